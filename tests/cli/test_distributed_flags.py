"""--workers / --scheduler / --scheduler-file / --output-cache are execution options (never the run's
identity), and the matrix's flags fail with one clear message."""

from __future__ import annotations

import pytest

from unified_bench.cli.evaluate import parse, specs_from_args
from unified_bench.cli.main import main
from unified_bench.errors import SpecError
from unified_bench.matrix.run import parse_entries


def _specs(*extra: str):
    return specs_from_args(parse(["--model", "hf:org/model", "--device", "cpu", *extra]))


def test_cluster_flags_are_execution_options_not_identity(tmp_path):
    run, options = _specs("--workers", "2", "--output-cache", str(tmp_path))
    assert options.cluster is not None and options.cluster.workers == 2
    assert options.output_cache == tmp_path
    plain_run, plain_options = _specs()
    assert plain_options.cluster is None and plain_options.output_cache is None
    assert run.to_dict() == plain_run.to_dict()  # run.json (and every key) is the same


def test_scheduler_file_and_address(tmp_path):
    f = tmp_path / "scheduler.json"
    f.write_text("{}")
    assert _specs("--scheduler-file", str(f))[1].cluster.scheduler_file == str(f)
    assert _specs("--scheduler", "tcp://10.0.0.1:8786")[1].cluster.scheduler == "tcp://10.0.0.1:8786"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--workers", "2", "--scheduler", "tcp://h:1"], "Choose one way"),
        (["--scheduler", "h:8786"], "not a scheduler address"),
        (["--scheduler-file", "/nonexistent/s.json"], "does not exist"),
        (["--workers", "0"], "not positive"),
    ],
)
def test_bad_cluster_flags_fail_with_the_fix(flags, message):
    with pytest.raises(SpecError, match=message):
        _specs(*flags)


def test_matrix_refuses_model_and_composites(capsys):
    assert main(["matrix", "--captioners", "hf:a/b", "--generators", "hf:c/d", "--model", "hf:a/b"]) == 2
    assert "--captioners and --generators, not --model" in capsys.readouterr().err
    with pytest.raises(SpecError, match="is a composite"):
        parse_entries("hf:a/b+hf:c/d", "--captioners")
    with pytest.raises(SpecError, match="same short name"):
        parse_entries("hf:org1/m,hf:org2/m", "--generators")
    entries = parse_entries("small=hf:org1/m, hf:org2/big@abc", "--generators")
    assert [(e.label, e.spec) for e in entries] == [("small", "hf:org1/m"), ("big", "hf:org2/big@abc")]
