"""cocotb test module: the scoreboard of minifloat.hw_cocotb on a combinational operator.

Settings come from environment variables (minifloat.hw_cocotb.config_env); run it through
``minifloat.hw_cocotb.run_rtl`` (what tests/test_rtl_cocotb.py and hw/tests/run_cocotb.py do)
or any cocotb flow that sets those variables.
"""

from __future__ import annotations

from pathlib import Path

import cocotb

from minifloat import hw_cocotb


@cocotb.test()
async def scoreboard(dut) -> None:  # type: ignore[no-untyped-def]
    cfg = hw_cocotb.config_from_env()
    expect_mismatch = cfg.pop("expect_mismatch")
    report_path = cfg.pop("report_path")
    op, fmt = cfg.pop("op"), cfg.pop("fmt")
    report = await hw_cocotb.check_binary_op(dut, op, fmt, **cfg)
    text = report.text()
    dut._log.info(text)
    if report_path:
        Path(report_path).write_text(text + "\n")
    if expect_mismatch:
        assert not report.ok, "the broken DUT passed: the scoreboard missed its bug\n" + text
    else:
        report.raise_if_failed()
