import hashlib
import hmac

import pytest

from usersegments.config import MissingPseudonymKey, Settings, load_pseudonym_key
from usersegments.dbt_functions import pseudonymize


def test_pseudonym_is_hmac_sha256_of_the_id():
    expected = hmac.new(b"k", b"A2IBPI20UZIR0U", hashlib.sha256).hexdigest()
    assert pseudonymize(b"k", "A2IBPI20UZIR0U") == expected
    assert pseudonymize(b"other", "A2IBPI20UZIR0U") != expected


def test_key_comes_from_configuration(tmp_path, monkeypatch):
    monkeypatch.delenv("USERSEGMENTS_PSEUDONYM_KEY", raising=False)
    settings = Settings(data_dir=tmp_path, source_dir=tmp_path)
    with pytest.raises(MissingPseudonymKey, match="make setup"):
        load_pseudonym_key(settings)
    settings.pseudonym_key_file.parent.mkdir(parents=True)
    settings.pseudonym_key_file.write_text("from-file\n")
    assert load_pseudonym_key(settings) == b"from-file"
    monkeypatch.setenv("USERSEGMENTS_PSEUDONYM_KEY", "from-env")
    assert load_pseudonym_key(settings) == b"from-env"
