"""Without the optional Ray extra, every --ray is one line naming the extra (no traceback)."""

from __future__ import annotations

import sys

import pytest

from conftest import run_cli
from encoderkit.errors import EncoderkitError


def test_missing_ray_is_one_line_naming_the_extra(monkeypatch, tmp_path, capsys):
    from encoderkit.runtime.ray_cluster import require_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(EncoderkitError, match=r"encoderkit\[ray\]"):
        require_ray()
    (tmp_path / "a.txt").write_text("hello world")
    code, out, err = run_cli(capsys, "index", str(tmp_path / "a.txt"), "--index", str(tmp_path / "ix"), "--ray")
    assert code == 2 and err.strip().count("\n") == 0 and "encoderkit[ray]" in err
