import pytest

from components.model.refs import Ref, is_secret, refs_in, substitute


def test_placeholders_are_found_in_order_and_substituted():
    text = "host={{db_host}} pw={{db_password}} again={{db_host}}"
    assert refs_in(text) == (Ref.DB_HOST, Ref.DB_PASSWORD)
    assert substitute(text, {Ref.DB_HOST: "h", Ref.DB_PASSWORD: "p"}) == "host=h pw=p again=h"


def test_secrecy_follows_the_refs():
    assert is_secret("x={{jwt_signing_key}}")
    assert not is_secret("x={{db_host}}")
    assert not is_secret("plain")


def test_a_missing_value_is_an_error_not_an_empty_string():
    with pytest.raises(KeyError, match="db_password"):
        substitute("{{db_password}}", {})
