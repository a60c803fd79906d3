"""Silver: schema-enforced, canonicalised, validated Delta tables MERGEd from bronze batches."""
