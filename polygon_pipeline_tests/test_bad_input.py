"""Bad input as an adversary or a careless user gives it: every case is refused (or read) with
one line that names the problem, never a traceback, and nothing is half-written."""

from __future__ import annotations

import pytest

from polygon_pipeline.chain.addresses import InvalidAddress
from polygon_pipeline.chain.exchanges import MAINNET_VENUES
from polygon_pipeline.store import leaders_repo
from polygon_pipeline_tests.helpers.cli import run_cli


def _one_line_error(result) -> str:
    """The error line (click's usage errors put a usage hint above it), after checking that
    the command failed without a traceback."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: "), result.stderr
    return line


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("foo://x", "POLYGON_PIPELINE_DB_URL: must be a sqlite"),
        ("notaurl", "POLYGON_PIPELINE_DB_URL: must be a sqlite"),
        ("mysql://app:hunter2@db/fills", "POLYGON_PIPELINE_DB_URL: must be a sqlite"),
        ("postgresql://app:hunter2@127.0.0.1:1/fills", "Connection refused"),
        ("postgresql://postgres:hunter2@127.0.0.1:5432/no_such_db_here", "no_such_db_here"),
        ("sqlite:////proc/no/such/folder/fills.db", "/proc/no"),
    ],
)
def test_every_bad_database_url_is_one_line(url, named):
    line = _one_line_error(run_cli("leaders", "list", env={"POLYGON_PIPELINE_DB_URL": url}))
    assert named in line
    assert "hunter2" not in line


def _addresses(n: int, start: int = 1) -> list[str]:
    return [f"0x{i:040x}" for i in range(start, start + n)]


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-8", b"\xef\xbb\xbf"),
        ("utf-16-le", b"\xff\xfe"),
        ("utf-16-be", b"\xfe\xff"),
        ("latin-1", b""),
    ],  # fmt: skip
)
def test_leader_files_as_spreadsheets_save_them(encoding, bom):
    wanted = _addresses(3)
    text = "address,label\n" + "".join(f"{a},Müller\n" for a in wanted) + "# déjà vu\n"
    decoded = leaders_repo.decode_leader_file(bom + text.encode(encoding))
    assert leaders_repo.read_leader_file(decoded) == wanted


def test_a_file_in_utf16_imports_and_a_bad_line_in_latin1_is_named(tmp_path):
    env = {"POLYGON_PIPELINE_DB_URL": f"sqlite:///{tmp_path / 'store.db'}"}
    file = tmp_path / "leaders.csv"
    file.write_bytes("address\n".encode("utf-16") + "\n".join(_addresses(2)).encode("utf-16-le"))
    imported = run_cli("leaders", "import", str(file), env=env)
    assert imported.returncode == 0, imported.stderr
    assert run_cli("leaders", "list", env=env).stdout.split() == _addresses(2)
    file.write_bytes(f"{_addresses(1)[0]}\n0x12é4\n".encode("latin-1"))
    assert "line 2" in _one_line_error(run_cli("leaders", "import", str(file), env=env))


def test_25000_leaders_are_written_and_removed_in_bounded_statements(engine):
    wanted = _addresses(25_000)
    with engine.begin() as conn:
        assert leaders_repo.add_leaders(conn, wanted) == 25_000
        leaders_repo.want_history(conn, wanted, 5)
    with engine.connect() as conn:
        assert leaders_repo.list_leaders(conn) == wanted
        assert len(leaders_repo.wanted_histories(conn, wanted)) == 25_000
    with engine.begin() as conn:
        assert leaders_repo.remove_leaders(conn, wanted[:20_000]) == 20_000
    with engine.connect() as conn:
        assert leaders_repo.list_leaders(conn) == wanted[20_000:]


def test_a_label_too_long_is_refused_and_nothing_added(engine):
    too_long = pytest.raises(leaders_repo.InvalidLabel, match=r"at most 200 characters \(got 201")
    with too_long, engine.begin() as conn:
        leaders_repo.add_leaders(conn, _addresses(2), label="x" * 201)
    with engine.begin() as conn:
        assert leaders_repo.list_leaders(conn) == []
        assert leaders_repo.add_leaders(conn, _addresses(2), label="é" * 200) == 2


def test_a_long_label_from_the_command_line_is_one_line(tmp_path):
    env = {"POLYGON_PIPELINE_DB_URL": f"sqlite:///{tmp_path / 'store.db'}"}
    line = _one_line_error(run_cli("leaders", "add", *_addresses(1), "--label", "x" * 201, env=env))
    assert "label: at most 200 characters (got 201)" in line


@pytest.mark.parametrize("venue", MAINNET_VENUES, ids=lambda v: v.name)
def test_an_exchange_contract_is_not_a_leader(venue):
    with pytest.raises(InvalidAddress, match=f"{venue.name} exchange contract"):
        leaders_repo.leader_address(venue.address)
    upper = "0x" + venue.address[2:].upper()
    with pytest.raises(InvalidAddress, match="line 2"):
        leaders_repo.read_leader_file(f"{_addresses(1)[0]}\n{upper}\n")


def test_adding_an_exchange_contract_is_one_line_and_adds_nothing(tmp_path):
    env = {"POLYGON_PIPELINE_DB_URL": f"sqlite:///{tmp_path / 'store.db'}"}
    address = MAINNET_VENUES[0].address
    line = _one_line_error(run_cli("leaders", "add", *_addresses(1), address, env=env))
    assert f"{MAINNET_VENUES[0].name} exchange contract" in line
    assert run_cli("leaders", "list", env=env).stdout.split() == []


@pytest.mark.parametrize("since", ["99999999d", "not-a-time"])
def test_compare_since_out_of_range_is_one_line(tmp_path, since):
    env = {"POLYGON_PIPELINE_DB_URL": f"sqlite:///{tmp_path / 'store.db'}"}
    line = _one_line_error(run_cli("compare", "--since", since, env=env))
    assert since in line


def test_a_10_mb_line_is_quoted_to_a_bounded_length(tmp_path):
    """A 10 MB line in a leaders file was quoted whole: 10,485,891 bytes to stderr."""
    env = {"POLYGON_PIPELINE_DB_URL": f"sqlite:///{tmp_path / 'store.db'}"}
    file = tmp_path / "leaders.csv"
    file.write_text(f"{_addresses(1)[0]}\n0x{'ab' * 5_242_880}\n")
    result = run_cli("leaders", "import", str(file), env=env)
    line = _one_line_error(result)
    assert len(result.stderr) < 1_000
    assert line.startswith("Error: line 2: not an address: '0xabab")
    assert "... (10,485,764 characters)" in line  # as quoted: 0x, 10 MiB, two quotes
    assert run_cli("leaders", "list", env=env).stdout.split() == []


TOO_LARGE_BLOCK = "99999999999999999999"


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (("leaders", "add", "0x" + "12" * 20), "--history-from-block"),
        (("backfill",), "--from-block"),
        (("backfill", "--since-cursor"), "--to-block"),
        (("windows", "register"), "--to-block"),
    ],
)
def test_a_block_number_beyond_any_store_is_refused_at_the_command_line(tmp_path, command, option):
    """`--history-from-block 99999999999999999999` was an OverflowError traceback on SQLite
    (a one-line driver error on PostgreSQL); every block option refuses it the same way."""
    env = {"POLYGON_PIPELINE_DB_URL": f"sqlite:///{tmp_path / 'store.db'}"}
    line = _one_line_error(run_cli(*command, option, TOO_LARGE_BLOCK, env=env))
    assert line == (
        f"Error: Invalid value for '{option}': {TOO_LARGE_BLOCK} is not in the range "
        "0<=x<=9223372036854775807."
    )
    assert run_cli("leaders", "list", env=env).stdout.split() == []
