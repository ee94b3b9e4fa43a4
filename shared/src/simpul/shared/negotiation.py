"""Which of the representations a route offers the client prefers, by the q-values of Accept."""

from __future__ import annotations


def preferred(accept: str | None, offers: dict[str, tuple[str, ...]], default: str) -> str | None:
    """The key of `offers` (each a tuple of media types) the client ranks highest.

    No Accept header gives `default`; None when nothing offered is
    acceptable (q=0 or other types only), for a 406. Ties go to the order of `offers`.
    """
    if not accept or not accept.strip():
        return default
    best: dict[str, float] = {}
    wildcard = -1.0
    for part in accept.split(","):
        pieces = part.strip().split(";")
        media = pieces[0].strip().lower()
        quality = 1.0
        for parameter in pieces[1:]:
            name, _, value = parameter.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media == "*/*":
            wildcard = max(wildcard, quality)
            continue
        for key, types in offers.items():
            family = {t.split("/")[0] + "/*" for t in types}
            if media in types or media in family:
                best[key] = max(best.get(key, -1.0), quality)
    if wildcard > 0:
        for key in offers:
            best.setdefault(key, wildcard)
    ranked = [(quality, -position, key) for position, (key, quality) in enumerate(
        (key, best[key]) for key in offers if key in best) if quality > 0]
    return max(ranked)[2] if ranked else None
