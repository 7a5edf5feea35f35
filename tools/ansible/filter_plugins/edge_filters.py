"""Jinja filters for the deploy templates.

ExecStart=... {{ word | systemd_word }}      # `50% $x` -> '50%% $$x'
"""

from __future__ import annotations

import shlex

from ansible.errors import AnsibleFilterError


def systemd_word(word) -> str:
    """One ExecStart argument: % and $ are special to systemd; quote words with spaces.

    A newline would start a unit line of its own (`User=root`): refused, not escaped.
    """
    if not str(word).isprintable():
        raise AnsibleFilterError(
            f"the boot service cannot use {str(word)!r}: it holds a control character"
        )
    text = str(word).replace("%", "%%").replace("$", "$$")
    return shlex.quote(text)


class FilterModule:
    def filters(self):
        return {"systemd_word": systemd_word}
