#!/usr/bin/env bash
# `make aws-deploy`: the whole deployment, in the order its parts need each other.
#   1. storage, network, monitoring, compute stacks (cdk deploy)
#   2. the project's image (Dockerfile) -> the compute stack's ECR repository, tagged with the commit
#   3. MWAA's source -> the Airflow source bucket: dags/, requirements.txt, plugins.zip, startup.sh
#   4. the orchestration stack (MWAA checks that its source objects exist when it is created)
# Needs: AWS credentials (any the AWS CLI finds), docker, node (npx fetches the cdk CLI), aws CLI.
# Context (-c key=value, or cdk.json): prefix, region, alert_email, airflow_version ...
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
cd "$HERE"
PREFIX="${BREWLAKE_AWS_PREFIX:-brewlake}"
REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}"
TAG="$(git -C "$REPO" rev-parse --short=12 HEAD)"
CDK=(npx --yes aws-cdk@2 --app "$REPO/.venv-aws/bin/python app.py" -c "prefix=$PREFIX" -c "region=$REGION" -c "image_tag=$TAG" "$@")
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20

output() {  # output <stack> <OutputKey>
    aws cloudformation describe-stacks --region "$REGION" --stack-name "$PREFIX-$1" \
        --query "Stacks[0].Outputs[?OutputKey=='$2'].OutputValue" --output text
}

"${CDK[@]}" bootstrap
"${CDK[@]}" deploy --require-approval broadening \
    "$PREFIX-storage" "$PREFIX-network" "$PREFIX-monitoring" "$PREFIX-compute"

repo_uri="$(output compute RepositoryUri)"
aws ecr get-login-password --region "$REGION" | docker login --username AWS --password-stdin "${repo_uri%%/*}"
docker build -t "$repo_uri:$TAG" "$REPO"
docker push "$repo_uri:$TAG"

source_bucket="$(aws cloudformation describe-stack-resources --region "$REGION" \
    --stack-name "$PREFIX-storage" \
    --query "StackResources[?starts_with(LogicalResourceId, 'AirflowSource') && ResourceType=='AWS::S3::Bucket'].PhysicalResourceId" \
    --output text)"
build="$HERE/build/mwaa"
rm -rf "$build" && mkdir -p "$build/plugins"
# brewlake's own package on the workers' sys.path (MWAA puts plugins/ there); its light
# dependencies come from requirements.txt, Spark never runs on MWAA.
(cd "$REPO" && tar --exclude=__pycache__ --exclude=devkit -cf - brewlake) | tar -xf - -C "$build/plugins"
(cd "$build/plugins" && zip -qr ../plugins.zip .)
aws s3 sync --delete "$REPO/dags/" "s3://$source_bucket/dags/" --exclude "__pycache__/*"
aws s3 cp "$build/plugins.zip" "s3://$source_bucket/plugins.zip"
aws s3 cp "$HERE/mwaa/requirements.txt" "s3://$source_bucket/requirements.txt"
aws s3 cp "$HERE/mwaa/startup.sh" "s3://$source_bucket/startup.sh"

"${CDK[@]}" deploy --require-approval broadening "$PREFIX-orchestration"
echo "deployed: MWAA environment $(output orchestration EnvironmentName), image $repo_uri:$TAG"
