"""Personal data (UU 27/2022): retention and erasure of closed submissions, the data subject's
export. A sub-domain of the usual form; what the other sub-domains hold about a person (complaints,
surveys) they erase and export themselves, through the hooks `app.py` hands in."""
