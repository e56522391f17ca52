"""The keyed pseudonym of user ids and where its key comes from."""

import hashlib
import hmac

import pytest

from usersegments.config import MissingPseudonymKey, Settings, load_pseudonym_key
from usersegments.dbt_functions import pseudonymize


def test_pseudonym_is_hmac_sha256_of_the_id():
    expected = hmac.new(b"k", b"A2IBPI20UZIR0U", hashlib.sha256).hexdigest()
    assert pseudonymize(b"k", "A2IBPI20UZIR0U") == expected
    assert pseudonymize(b"other", "A2IBPI20UZIR0U") != expected


def test_key_comes_from_configuration(tmp_path):
    settings = Settings.from_env({"USERSEGMENTS_DATA_DIR": str(tmp_path)})
    with pytest.raises(MissingPseudonymKey, match="make setup"):
        load_pseudonym_key(settings)
    settings.pseudonym_key_file.parent.mkdir(parents=True)
    settings.pseudonym_key_file.write_text("from-file\n")
    assert load_pseudonym_key(settings) == b"from-file"
    environ = {"USERSEGMENTS_DATA_DIR": str(tmp_path), "USERSEGMENTS_PSEUDONYM_KEY": "from-env"}
    assert load_pseudonym_key(Settings.from_env(environ)) == b"from-env"
    assert "from-env" not in repr(Settings.from_env(environ))  # never printed
