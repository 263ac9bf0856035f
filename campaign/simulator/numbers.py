"""Target URIs reduced to the number they dial, so scripts and per-number counts agree.

`tel:+91 12345`, `tel:9112345` and `sip:9112345@10.0.0.1:5060` are one number (`9112345`): the
key is the digits of the URI's user part, or the lower-cased user part when it has no digits.
"""

from __future__ import annotations

import re

_TEL = re.compile(r"^tel:\+?[0-9][0-9().\- ]{4,30}$")
_SIP = re.compile(r"^sips?:[^@\s;]+@[A-Za-z0-9.\-\[\]:]+(:[0-9]{1,5})?(;[^\s]*)?$")


def number_key(target: str) -> str:
    """The digits a target dials (see the module docstring)."""
    user = target.strip()
    for scheme in ("tel:", "sips:", "sip:"):
        if user.lower().startswith(scheme):
            user = user[len(scheme) :]
            break
    user = user.split("@", 1)[0].split(";", 1)[0]
    digits = "".join(ch for ch in user if ch.isdigit())
    return digits or user.lower()


def valid_target(target: str) -> bool:
    """`tel:` with 5+ digits (country code included) or `sip:user@host[:port]`."""
    if _TEL.match(target):
        return sum(ch.isdigit() for ch in target) >= 5
    return bool(_SIP.match(target))
