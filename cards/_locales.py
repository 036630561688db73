"""Number formats per locale for `formatNumber` and `string`, as adaptive-expressions 4.23.3 has.

Ported from `adaptive-expressions/src/localeInfo.ts` (MIT, Microsoft); only the fields those two
functions use. Keys are the exact (case-sensitive) locale names Microsoft's engine recognises.
"""

from __future__ import annotations

from typing import NamedTuple


class NumberLocale(NamedTuple):
    """Decimal mark, thousands separator, digit-group sizes and (optionally) the ten digits."""

    decimal: str
    thousands: str
    grouping: tuple[int, ...]
    numerals: str | None = None


DEFAULT = NumberLocale(".", ",", (3,))
ARABIC_INDIC = "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"
ARABIC = ("\u066b", "\u066c")

LOCALES: dict[str, NumberLocale] = {
    "ar-001": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ar-AE": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ar-BH": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ar-DJ": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ar-DZ": NumberLocale(",", ".", (3,)),
    "ar-EG": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ar-EH": NumberLocale(".", ",", (3,)),
    "ar-ER": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ar-IL": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ar-IQ": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ar-JO": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ar-KM": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ar-KW": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ar-LB": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ar-LY": NumberLocale(",", ".", (3,)),
    "ar-MA": NumberLocale(",", ".", (3,)),
    "ar-MR": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ar-OM": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ar-PS": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ar-QA": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ar-SA": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ar-SD": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ar-SO": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ar-SS": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ar-SY": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ar-TD": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ar-TN": NumberLocale(",", ".", (3,)),
    "ar-YE": NumberLocale(*ARABIC, (3,), ARABIC_INDIC),
    "ca-ES": NumberLocale(",", ".", (3,)),
    "cs-CZ": NumberLocale(",", "\u00a0", (3,)),
    "de-CH": NumberLocale(",", "'", (3,)),
    "de-DE": NumberLocale(",", ".", (3,)),
    "en-CA": NumberLocale(".", ",", (3,)),
    "en-GB": NumberLocale(".", ",", (3,)),
    "en-IE": NumberLocale(".", ",", (3,)),
    "en-IN": NumberLocale(".", ",", (3, 2, 2, 2, 2, 2, 2, 2, 2, 2)),
    "en-US": NumberLocale(".", ",", (3,)),
    "es-BO": NumberLocale(",", ".", (3,)),
    "es-ES": NumberLocale(",", ".", (3,)),
    "es-MX": NumberLocale(".", ",", (3,)),
    "fi-FI": NumberLocale(",", "\u00a0", (3,)),
    "fr-CA": NumberLocale(",", "\u00a0", (3,)),
    "fr-FR": NumberLocale(",", "\u00a0", (3,)),
    "he-IL": NumberLocale(".", ",", (3,)),
    "hu-HU": NumberLocale(",", "\u00a0", (3,)),
    "it-IT": NumberLocale(",", ".", (3,)),
    "ja-JP": NumberLocale(".", ",", (3,)),
    "ko-KR": NumberLocale(".", ",", (3,)),
    "mk-MK": NumberLocale(",", ".", (3,)),
    "nl-NL": NumberLocale(",", ".", (3,)),
    "pl-PL": NumberLocale(",", ".", (3,)),
    "pt-BR": NumberLocale(",", ".", (3,)),
    "ru-RU": NumberLocale(",", "\u00a0", (3,)),
    "sv-SE": NumberLocale(",", "\u00a0", (3,)),
    "uk-UA": NumberLocale(",", "\u00a0", (3,)),
    "zh-CN": NumberLocale(".", ",", (3,)),
}
