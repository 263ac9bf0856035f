"""Write the demo's synthetic contacts, do-not-call list and simulator script (fixed seed).

    python examples/make_demo_contacts.py [--rows 2000] [--seed 20251125] [--out examples]

Outputs, all deterministic for a given seed and row count:
- `demo-contacts.csv`: `phone,timezone,external_id,country,first_name,plan,amount_due`. Numbers
  are valid for their region per phonenumbers, random within the region's real number ranges and
  only ever dialled against the simulator. Contacts cover every whole-hour UTC offset from -11 to
  +13 in both halves of the year (plus India's +5:30), so whatever the hour and season, one band
  of them is inside the demo window's nightly quiet hour and shows up as "waiting: window".
  Numbers are written in three styles (E.164, spaced international, national with a `country`
  column); `timezone` is filled where the number alone cannot say (multi-zone countries, or a
  zone finer than phonenumbers knows) and on a share of the rest.
- A few deliberately bad rows (wrong lengths, unknown codes, an extension, an unknown zone or
  country, no phone) and repeated numbers/external ids, so the upload report has something to say.
- `demo-dnc.csv`: some numbers of the file, put on the do-not-call list before the upload.
- `demo-simulator.json`: the simulator's outcome mix, and scripted outcome sequences for a few
  numbers so that retries (busy, busy, answered...) happen whatever the random draw.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path

import phonenumbers
from phonenumbers import PhoneNumberFormat, timezone

SEED = 20251125
ROWS = 2000
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Place:
    """Where a share of the contacts lives: region, a national-number prefix, the zone to write
    (None: let the number say), and a relative weight."""

    region: str
    prefix: str
    zone: str | None
    weight: int


PLACES = (
    Place("AS", "684", "Pacific/Pago_Pago", 2),  # -11
    Place("US", "808", "Pacific/Honolulu", 3),  # -10
    Place("PF", "404", "Pacific/Gambier", 1),  # -9 all year (a Tahiti number, Gambier's zone)
    Place("US", "907", "America/Anchorage", 3),  # -9/-8 (the number alone also allows Adak)
    Place("US", "213", None, 8),  # -8 Los Angeles
    Place("CA", "604", None, 3),  # -8 Vancouver
    Place("US", "303", None, 5),  # -7 Denver
    Place("US", "602", "America/Phoenix", 3),  # -7, no DST
    Place("US", "312", None, 8),  # -6 Chicago
    Place("MX", "55", None, 4),  # -6 Mexico City
    Place("US", "212", None, 10),  # -5 New York
    Place("CO", "601", None, 3),  # -5 Bogota
    Place("CA", "902", None, 2),  # -4 Halifax
    Place("BR", "11", None, 5),  # -3 Sao Paulo
    Place("AR", "11", None, 3),  # -3 Buenos Aires
    Place("BR", "81", "America/Noronha", 1),  # -2 (a Recife number, written with Noronha's zone)
    Place("CV", "2", None, 1),  # -1
    Place("IS", "4", None, 1),  # 0 all year
    Place("GB", "20", None, 6),  # 0/+1 London
    Place("FR", "1", None, 5),  # +1
    Place("DE", "30", None, 4),  # +1
    Place("ZA", "11", None, 3),  # +2
    Place("KE", "20", None, 2),  # +3
    Place("AE", "4", None, 2),  # +4
    Place("PK", "21", None, 2),  # +5
    Place("IN", "22", "Asia/Kolkata", 5),  # +5:30
    Place("BD", "2", None, 2),  # +6
    Place("TH", "2", None, 2),  # +7
    Place("SG", "6", None, 3),  # +8
    Place("JP", "3", None, 4),  # +9
    Place("AU", "73", "Australia/Brisbane", 2),  # +10 all year
    Place("AU", "2", "Australia/Sydney", 4),  # +10/+11
    Place("NC", "2", None, 1),  # +11
    Place("FJ", "3", None, 1),  # +12
    Place("NZ", "9", None, 3),  # +12/+13
    Place("TO", "2", None, 1),  # +13
)

FIRST_NAMES = ("Ana", "Ben", "Chen", "Dara", "Eli", "Femi", "Gia", "Hiro", "Ines", "Jon", "Kofi")
PLANS = ("basic", "plus", "premium")

# Rows an upload must refuse, each with the reason the report should give (by construction).
BAD_ROWS = (
    {"phone": "12345", "country": "US"},  # too short for the US
    {"phone": "call me maybe"},  # not a phone number
    {"phone": "+1 212 555 0147 ext. 12"},  # an extension cannot be dialled
    {"phone": "+999 123 4567"},  # no such calling code
    {"phone": "+44 20 7946 09"},  # too short for GB
    {"phone": "0612345678"},  # national format, no country, no default region
    {"phone": "+33 1 42 68 53 00", "timezone": "Mars/Olympus_Mons"},  # unknown zone
    {"phone": "0201234567", "country": "XX"},  # unknown country
    {"phone": "", "first_name": "Nobody"},  # no phone at all
)
COLUMNS = ("phone", "timezone", "external_id", "country", "first_name", "plan", "amount_due")


def _number(rng: random.Random, place: Place, taken: set[str]) -> phonenumbers.PhoneNumber:
    """A valid, not yet used number of `place`: its prefix plus random digits, as long as the
    region's example number."""
    example = phonenumbers.example_number_for_type(
        place.region, phonenumbers.PhoneNumberType.FIXED_LINE
    ) or phonenumbers.example_number(place.region)
    length = len(phonenumbers.national_significant_number(example))
    for _ in range(10_000):
        digits = place.prefix + "".join(
            rng.choice("0123456789") for _ in range(length - len(place.prefix))
        )
        number = phonenumbers.parse(digits, place.region)
        e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        if (
            phonenumbers.is_valid_number(number)
            and phonenumbers.region_code_for_number(number) == place.region
            and e164 not in taken
        ):
            taken.add(e164)
            return number
    raise RuntimeError(f"no valid number found for {place}")


def _written(rng: random.Random, number: phonenumbers.PhoneNumber, region: str) -> dict[str, str]:
    """The number in one of three spellings an operator's file would have."""
    style = rng.random()
    if style < 0.4:
        return {"phone": phonenumbers.format_number(number, PhoneNumberFormat.E164)}
    if style < 0.7:
        return {"phone": phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)}
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    return {"phone": national, "country": region}


def contacts(rows: int, seed: int) -> tuple[list[dict[str, str]], list[str]]:
    """(CSV rows in file order, E.164 of every good row) for `rows` good contacts."""
    rng = random.Random(seed)
    weights = [p.weight for p in PLACES]
    taken: set[str] = set()
    good: list[dict[str, str]] = []
    phones: list[str] = []
    for index in range(rows):
        place = rng.choices(PLACES, weights)[0]
        number = _number(rng, place, taken)
        row = _written(rng, number, place.region)
        if place.zone is not None or rng.random() < 0.2:
            zones = timezone.time_zones_for_number(number)
            row["timezone"] = place.zone or zones[0]
        row["external_id"] = f"C{index + 1:06d}"
        row["first_name"] = rng.choice(FIRST_NAMES)
        row["plan"] = rng.choice(PLANS)
        row["amount_due"] = f"{rng.randrange(500, 50_000) / 100:.2f}"
        good.append(row)
        phones.append(phonenumbers.format_number(number, PhoneNumberFormat.E164))
    out = list(good)
    step = max(1, rows // (len(BAD_ROWS) + 4))
    extras: list[dict[str, str]] = [dict(row) for row in BAD_ROWS]
    # The same person twice (respelt), and another number reusing a taken external id.
    extras.append({**good[3], "phone": phones[3], "country": ""})
    extras.append({**good[20], "phone": "+1 415 555 0134", "timezone": "", "country": ""})
    for offset, extra in enumerate(extras, start=1):
        out.insert(min(len(out), offset * step), extra)
    return out, phones


def simulator_config(phones: list[str], rng: random.Random) -> dict[str, object]:
    """The demo's outcome mix, and a few numbers whose calls follow a fixed script."""
    scripted = rng.sample(phones, 12)
    sequences = (
        ["busy", "busy", "human"],
        ["no_answer", "human"],
        ["rejected", "rejected"],
        ["unavailable", "unavailable", "machine"],
    )
    return {
        "mix": {
            "human": 0.50,
            "machine": 0.12,
            "no_speech": 0.03,
            "undecided": 0.02,
            "busy": 0.12,
            "rejected": 0.04,
            "no_answer": 0.10,
            "unavailable": 0.04,
            "failed_other": 0.03,
        },
        "scripts": {
            "by_number": {phone: sequences[i % len(sequences)] for i, phone in enumerate(scripted)},
        },
    }


def main(argv: list[str] | None = None) -> None:
    """Write the three files (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS, help="good contacts to write")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write into")
    args = parser.parse_args(argv)
    rows, phones = contacts(args.rows, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "demo-contacts.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    rng = random.Random(args.seed + 1)
    dnc = rng.sample(phones, 15)
    with (args.out / "demo-dnc.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(("phone",))
        writer.writerows((phone,) for phone in dnc)
    config = simulator_config([p for p in phones if p not in set(dnc)], rng)
    (args.out / "demo-simulator.json").write_text(json.dumps(config, indent=2) + "\n")


if __name__ == "__main__":
    main()
