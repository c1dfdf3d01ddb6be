"""Personal data (PIPL): consent to the privacy notice, export, deletion and retention.

Owns no table of its own but an advisory lock: it composes each domain's read and erase
functions (``# --- used by privacy ---`` at the end of their repositories)."""
