"""The embedded database (SQLite) answers an id too large for it as PostgreSQL does: no row,
not an OverflowError. Run against a throwaway SQLite connection, so it holds on every backend."""

import sqlite3

from config.apps import _integer_or_text


def test_an_integer_beyond_64_bits_matches_no_row_instead_of_overflowing():
    connection = sqlite3.connect(":memory:")
    connection.execute("create table t (id integer primary key)")
    connection.executemany("insert into t values (?)", [(1,), (2**63 - 1,)])
    huge = 10**40
    try:
        connection.execute("select id from t where id = ?", (huge,))
    except OverflowError:
        pass
    else:  # the adapter is already registered (the suite runs on SQLite): nothing to show
        sqlite3.adapters.pop((int, sqlite3.PrepareProtocol), None)
        try:
            connection.execute("select id from t where id = ?", (huge,))
            raise AssertionError("this SQLite driver no longer overflows: the adapter can go")
        except OverflowError:
            pass
    sqlite3.register_adapter(int, _integer_or_text)
    assert connection.execute("select id from t where id = ?", (huge,)).fetchall() == []
    assert connection.execute("select id from t where id in (?, ?)", (1, huge)).fetchall() == [(1,)]
    assert connection.execute("select id from t where id = ?", (2**63 - 1,)).fetchall() == [(2**63 - 1,)]
    assert connection.execute("select id from t where id = ?", (-(2**63),)).fetchall() == []
    assert _integer_or_text(True) is True and _integer_or_text(-5) == -5
