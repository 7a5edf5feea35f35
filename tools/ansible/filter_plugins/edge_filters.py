"""Jinja filters for the deploy templates.

ExecStart=... {{ word | systemd_word }}      # `50% $x` -> '50%% $$x'
"""

from __future__ import annotations

import shlex


def systemd_word(word) -> str:
    """One ExecStart argument: % and $ are special to systemd; quote words with spaces."""
    text = str(word).replace("%", "%%").replace("$", "$$")
    return shlex.quote(text)


class FilterModule:
    def filters(self):
        return {"systemd_word": systemd_word}
