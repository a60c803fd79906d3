"""Synthetic breweries shaped like the Open Brewery DB, with every class of oddity in API.md.

`generate_records(n, seed)` is deterministic per seed and builds ~1 M rows in seconds: one
`random.Random`, small pools of places drawn by index, no per-row regex or datetime work.
`brewlake generate --rows N --seed S --out FILE` writes the records as one JSON array.
"""

from __future__ import annotations

import gc
import json
import random
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from brewlake import command

# The API's 15 types with weights close to the real mix; closed + planning ≈ 11 %.
BREWERY_TYPES: tuple[tuple[str, int], ...] = (
    ("micro", 420),
    ("brewpub", 250),
    ("planning", 70),
    ("closed", 40),
    ("regional", 30),
    ("contract", 22),
    ("large", 15),
    ("proprietor", 8),
    ("nano", 12),
    ("bar", 10),
    ("taproom", 8),
    ("cidery", 5),
    ("beergarden", 3),
    ("location", 4),
    ("unknown", 3),
)

# (country, [state spellings...], [cities...], postal style, phone style, lat, lon, weight)
# Several spellings of one state are the same place: case-only variants, short vs long names,
# several languages, abbreviations. Cities carry / ( ) . ' and diacritics.
_PLACES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], str, str, float, float, int], ...] = (
    (
        "United States",
        ("California",),
        ("San Diego", "Los Angeles", "San Francisco", "Chico"),
        "us",
        "us",
        34.0,
        -118.0,
        90,
    ),
    (
        "United States",
        ("Colorado",),
        ("Denver", "Fort Collins", "Boulder"),
        "us",
        "us",
        39.7,
        -105.0,
        40,
    ),
    (
        "United States",
        ("Missouri", "MIssouri", "missouri"),
        ("St. Louis", "Kansas City"),
        "us",
        "us",
        38.6,
        -90.2,
        25,
    ),
    (
        "United States",
        ("Massachusetts",),
        ("Boston", "Cambridge", "Worcester"),
        "us0",
        "us",
        42.36,
        -71.06,
        25,
    ),
    (
        "United States",
        ("New Jersey",),
        ("Newark", "Hoboken", "Cape May"),
        "us0",
        "us",
        40.7,
        -74.2,
        20,
    ),
    ("United States", ("Idaho",), ("Coeur d'Alene", "Boise"), "us", "us", 43.6, -116.2, 10),
    (
        "United States",
        ("North Carolina",),
        ("Winston-Salem", "Asheville"),
        "us",
        "us",
        35.6,
        -82.5,
        25,
    ),
    (
        "United States",
        ("Minnesota",),
        ("Minneapolis", "Duluth", "St. Paul"),
        "us_dash",
        "us",
        44.98,
        -93.27,
        20,
    ),
    (
        "United States",
        ("New York",),
        ("New York", "Brooklyn", "Buffalo"),
        "us",
        "us",
        40.71,
        -74.0,
        35,
    ),
    ("United States", ("Texas",), ("Austin", "Houston", "El Paso"), "us", "us", 30.27, -97.74, 30),
    (
        "United States",
        ("Washington",),
        ("Seattle", "Spokane", "Walla Walla"),
        "us",
        "us",
        47.6,
        -122.3,
        30,
    ),
    ("United States", ("Puerto Rico",), ("San Juan",), "us0", "us", 18.46, -66.1, 2),
    (
        "Belgium",
        ("Vlaanderen", "Flanders", "Région flamande"),
        ("Gent", "Brugge", "Leuven"),
        "be",
        "intl",
        51.05,
        3.72,
        6,
    ),
    (
        "Belgium",
        ("Wallonie", "Wallonia", "Wallonien"),
        ("Namur", "Liège", "Chimay"),
        "be",
        "intl",
        50.47,
        4.87,
        4,
    ),
    ("Belgium", ("Brussels", "Bruxelles", "Brussel"), ("Bruxelles",), "be", "intl", 50.85, 4.35, 2),
    (
        "Australia",
        ("NSW", "New South Wales"),
        ("Sydney", "Newcastle", "Wagga Wagga"),
        "au",
        "intl",
        -33.87,
        151.2,
        5,
    ),
    ("Australia", ("VIC", "Victoria"), ("Melbourne", "Geelong"), "au", "intl", -37.8, 144.96, 5),
    ("Australia", ("QLD", "Queensland"), ("Brisbane",), "au", "intl", -27.47, 153.03, 3),
    (
        "New Zealand",
        ("Northland", "Northland Region"),
        ("Whangārei", "Kerikeri"),
        "nz",
        "intl",
        -35.73,
        174.32,
        2,
    ),
    (
        "New Zealand",
        ("Hawke's Bay Region", "Hawke's Bay"),
        ("Napier", "Hastings"),
        "nz",
        "intl",
        -39.49,
        176.91,
        2,
    ),
    (
        "New Zealand",
        ("Manawatū-Whanganui Region", "Manawatu-Wanganui"),
        ("Palmerston North",),
        "nz",
        "intl",
        -40.35,
        175.61,
        2,
    ),
    ("Germany", ("Baden-Württemberg",), ("Stuttgart", "Tübingen"), "de", "intl", 48.78, 9.18, 3),
    (
        "Germany",
        ("Bayern", "Bavaria"),
        ("München", "Kempten (Allgäu)", "Bamberg"),
        "de",
        "intl",
        48.14,
        11.58,
        4,
    ),
    (
        "Germany",
        ("Brandenburg",),
        ("Lübbenau/Spreewald", "Frankfurt (Oder)"),
        "de",
        "intl",
        51.87,
        13.97,
        2,
    ),
    (
        "Austria",
        ("Kärnten", "Carinthia"),
        ("Klagenfurt am Wörthersee", "Villach"),
        "at",
        "intl",
        46.62,
        14.31,
        2,
    ),
    ("Finland", ("Åland",), ("Mariehamn",), "fi", "intl", 60.1, 19.94, 1),
    (
        "Poland",
        ("dolnośląskie", "Dolnośląskie"),
        ("Wrocław", "Świdnica"),
        "pl",
        "intl",
        51.1,
        17.03,
        2,
    ),
    (
        "Ireland",
        ("Dublin", "County Dublin", "Co. Dublin"),
        ("Dublin", "Dún Laoghaire"),
        "ie",
        "intl",
        53.35,
        -6.26,
        3,
    ),
    (
        "England",
        ("Greater London", "London"),
        ("London", "Richmond upon Thames"),
        "uk",
        "intl",
        51.5,
        -0.12,
        4,
    ),
    ("Scotland", ("Highland",), ("Inverness", "Fort William"), "uk", "intl", 57.48, -4.22, 2),
    ("South Korea", ("Seoul",), ("Seoul",), "kr", "intl", 37.57, 126.98, 2),
    ("Isle of Man", ("Isle of Man",), ("Douglas",), "uk", "intl", 54.15, -4.48, 1),
    ("Portugal", ("Lisboa",), ("Lisboa",), "pt", "intl", 38.72, -9.14, 1),
    ("France", ("Île-de-France",), ("Paris", "Saint-Denis"), "fr", "intl", 48.86, 2.35, 2),
    ("Singapore", ("Singapore",), ("Singapore",), "sg", "intl", 1.35, 103.82, 1),
)

_WORDS_A = (
    "Old",
    "Iron",
    "Copper",
    "Golden",
    "Black",
    "Red",
    "Lost",
    "Wild",
    "Twin",
    "Big",
    "Little",
    "Hidden",
    "Salty",
    "Stone",
    "River",
    "Mountain",
    "Northern",
    "Lucky",
    "Crooked",
    "Brave",
    "Schwarze",
    "Brasserie de la",
    "Brouwerij",
    "Bière",
    "Mañana",
    "Øresund",
    "Kōwhai",
)
_WORDS_B = (
    "Dog",
    "Anchor",
    "Barrel",
    "Hop",
    "Fox",
    "Bear",
    "Owl",
    "Oak",
    "Pine",
    "Mill",
    "Bridge",
    "Harbor",
    "Canyon",
    "Valley",
    "Kettle",
    "Wolf",
    "Crow",
    "Lantern",
    "Forge",
    "Brücke",
    "Crown",
    "Saint",
    "O'Malley's",
    "Señor",
    "Ölgarten",
)
_SUFFIX = (
    "Brewing Company",
    "Brewing Co.",
    "Brewery",
    "Beer Works",
    "Ales",
    "Brewhouse",
    "Craft Brewery",
    "Taproom",
    "Cider House",
    "Brauerei",
    "Bierbrouwerij",
    "Brewing",
)
_STREETS = (
    "Main St",
    "Market Street",
    "Harbor Rd",
    "Industrial Way",
    "N 5th Ave",
    "Rue de l'Église",
    "Hauptstraße",
    "Kingsway",
    "Old Mill Lane",
    "Bahnhofstr.",
    "Ocean Blvd",
    "Elm St Ste 100",
)


class _FastRandom(random.Random):
    """`random.Random` with cheap randrange/choice: this generator calls them ~10 M times."""

    def randrange(self, start, stop=None, step=1):  # type: ignore[override]
        if stop is None:
            start, stop = 0, start
        return start + int(self.random() * (stop - start))

    def choice(self, seq):  # type: ignore[override]
        return seq[int(self.random() * len(seq))]


def _uuid4(bits: int) -> str:
    """A version-4 UUID string from 128 random bits (as `uuid.UUID(int=…, version=4)`)."""
    bits = (bits & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _postal(style: str, rnd: _FastRandom) -> str:
    r = rnd.random
    if style in ("us", "us0", "us_dash"):
        lead = rnd.randrange(0, 10) if style == "us0" else rnd.randrange(1, 10)
        base = f"{lead}{rnd.randrange(0, 10000):04d}"
        if style == "us0" and r() < 0.5:
            base = f"0{rnd.randrange(0, 10000):04d}"
        roll = r()
        if roll < 0.35:
            return f"{base}-{rnd.randrange(0, 10000):04d}"
        if style == "us_dash" and roll < 0.45:
            return base + "-"
        return base
    if style == "be" or style == "au" or style == "at":
        return f"{rnd.randrange(1000, 10000)}"
    if style == "nz":
        return f"{rnd.randrange(0, 10000):04d}"
    if style in ("de", "fi", "fr"):
        return f"{rnd.randrange(1000, 100000):05d}"
    if style == "pl":
        return f"{rnd.randrange(10, 100)}-{rnd.randrange(0, 1000):03d}"
    if style == "ie":
        return (
            f"D{rnd.randrange(1, 25):02d} {rnd.choice('ACDEFHKNPRTVWXY')}{rnd.randrange(100, 999)}"
        )
    if style == "uk":
        return f"{rnd.choice(('SW1A', 'IV1', 'IM1', 'EC2'))} {rnd.randrange(1, 10)}AB"
    if style == "kr":
        return f"{rnd.randrange(0, 100000):05d}"
    if style == "pt":
        return f"{rnd.randrange(1000, 10000)}-{rnd.randrange(0, 1000):03d}"
    return f"{rnd.randrange(10000, 1000000)}"


def _phone(style: str, rnd: _FastRandom) -> str | None:
    roll = rnd.random()
    if roll < 0.08:
        return None
    digits = f"{rnd.randrange(200, 1000)}{rnd.randrange(0, 10_000_000):07d}"
    if style == "us":
        if roll < 0.12:
            return digits + ".0"  # spreadsheet round-trips leave a float behind
        if roll < 0.18:
            return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
        return digits
    if roll < 0.14:
        return f"+{rnd.randrange(1, 99)} {digits[:3]} {digits[3:]}"
    if roll < 0.18:
        return digits + ".0"
    return f"0{digits[1:]}"


def _space_out(value: str, rnd: _FastRandom) -> str:
    roll = rnd.random()
    if roll < 0.4:
        return " " + value
    if roll < 0.8:
        return value + " "
    return value.replace(" ", "  ", 1) if " " in value else f" {value} "


def generate_records(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """`n` breweries in the API's field order; the same (n, seed) gives the same records."""
    # Millions of fresh dicts trigger the cycle collector over and over; none of them is cyclic.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _generate(n, seed)
    finally:
        if was_enabled:
            gc.enable()


def _generate(n: int, seed: int) -> list[dict[str, Any]]:
    rnd = _FastRandom(seed)
    slugs: dict[str, str] = {}
    r = rnd.random
    types = [t for t, _ in BREWERY_TYPES]
    type_weights = [w for _, w in BREWERY_TYPES]
    place_weights = [p[7] for p in _PLACES]
    place_idx = rnd.choices(range(len(_PLACES)), weights=place_weights, k=n)
    type_col = rnd.choices(types, weights=type_weights, k=n)
    out: list[dict[str, Any]] = []
    seen_ids: set[str] = set()
    for i in range(n):
        while True:
            rid = _uuid4(rnd.getrandbits(128))
            if rid not in seen_ids:
                seen_ids.add(rid)
                break
        # ~1 %: the same brewery again under a new id (same name and address).
        if out and r() < 0.01:
            dup = dict(out[rnd.randrange(len(out))])
            dup["id"] = rid
            out.append(dup)
            continue
        country, states, cities, postal_style, phone_style, lat0, lon0, _ = _PLACES[place_idx[i]]
        state = states[rnd.randrange(len(states))]
        city = cities[rnd.randrange(len(cities))]
        name = (
            f"{_WORDS_A[rnd.randrange(len(_WORDS_A))]} "
            f"{_WORDS_B[rnd.randrange(len(_WORDS_B))]} "
            f"{_SUFFIX[rnd.randrange(len(_SUFFIX))]}"
        )
        if r() < 0.01:
            name = name.replace("'", "\u2019") if "'" in name else f"\u201c{name}\u201d"
        address = None if r() < 0.07 else f"{rnd.randrange(1, 9999)} {rnd.choice(_STREETS)}"
        if r() < 0.02:
            name = _space_out(name, rnd)
        if r() < 0.01:
            city = _space_out(city, rnd)
        if r() < 0.01:
            state = _space_out(state, rnd)
        if r() < 0.005:
            country = _space_out(country, rnd)
        lon: Any
        lat: Any
        roll = r()
        if roll < 0.25:
            lon = lat = None
        else:
            lat = round(lat0 + (r() - 0.5) * 2.0, 7)
            lon = round(lon0 + (r() - 0.5) * 2.0, 7)
            if country == "United States" and r() < 0.003:
                lat, lon = lon, lat  # swapped, as a few real US rows are
            if roll > 0.90:  # older API versions sent coordinates as strings
                lat, lon = str(lat), str(lon)
        slug = slugs.get(name)
        if slug is None:
            slug = "".join(ch for ch in name.lower() if ch.isascii() and ch.isalnum())[:30]
            slugs[name] = slug
        website = None if r() < 0.2 else f"http://www.{slug}.com"
        address_2 = None if r() < 0.97 else f"Suite {rnd.randrange(1, 500)}"
        address_3 = None if r() < 0.995 else "Building B"
        postal = _postal(postal_style, rnd)
        record = {
            "id": rid,
            "name": name,
            "brewery_type": type_col[i],
            "address_1": address,
            "address_2": address_2,
            "address_3": address_3,
            "city": city,
            "state_province": state,
            "postal_code": postal,
            "country": country,
            "longitude": lon,
            "latitude": lat,
            "phone": _phone(phone_style, rnd),
            "website_url": website,
            "state": state,
            "street": address,
        }
        out.append(record)
    return out


app = command.app()


@app.command("generate", help="generate realistic synthetic breweries")
def generate_command(
    rows: Annotated[int, typer.Option(min=0, help="number of breweries", show_default=False)],
    out: Annotated[str, typer.Option(help="output JSON file ('-' for stdout)", show_default=False)],
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
) -> None:
    records = generate_records(rows, seed)
    body = json.dumps(records, ensure_ascii=False).encode("utf-8")
    if out == "-":
        sys.stdout.buffer.write(body)
    else:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        print(f"wrote {len(records)} breweries to {path}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    return command.run(app, argv, "brewlake generate")


if __name__ == "__main__":
    sys.exit(main())
