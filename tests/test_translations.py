"""Every user-facing string is translated into every shipped language.

The catalogues live in locale/<lang>/LC_MESSAGES/django.po (compiled .mo beside them).
A string added to the code without a translation fails here: the first test extracts the
strings afresh (GNU gettext, installed by .ci/run) into a copy of the tree and checks that
every one is translated; the others check the committed catalogues themselves.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.utils.translation import to_locale

ROOT = Path(__file__).resolve().parent.parent
LANGS = [to_locale(code) for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
SOURCE_DIRS = ["loyalty", "members", "rewards", "campaigns", "templates"]


def catalogue(lang: str, root: Path = ROOT) -> Path:
    return root / "locale" / lang / "LC_MESSAGES" / "django.po"


def problems(po: polib.POFile) -> list[str]:
    found = [f"untranslated: {e.msgid!r}" for e in po.untranslated_entries()]
    found += [f"fuzzy: {e.msgid!r}" for e in po.fuzzy_entries() if not e.obsolete]
    for entry in po.translated_entries():
        if entry.msgid_plural and not all(entry.msgstr_plural.values()):
            found.append(f"plural form missing: {entry.msgid!r}")
    return found


def test_languages_shipped_are_the_five_of_the_programme():
    assert {code for code, _ in settings.LANGUAGES} == {"en", "fi", "et", "pl", "zh-hant"}


@pytest.mark.skipif(
    shutil.which("xgettext") is None, reason="GNU gettext (xgettext) is not installed"
)
def test_every_string_in_the_code_is_translated_in_every_language(tmp_path):
    # given a copy of the source tree with its catalogues
    for name in [*SOURCE_DIRS, "locale"]:
        shutil.copytree(
            ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "tests")
        )
    shutil.copy(ROOT / "manage.py", tmp_path / "manage.py")
    # when the strings are extracted afresh and merged into it
    args = [sys.executable, "manage.py", "makemessages", "--no-obsolete", "--ignore=tests/*"]
    for lang in LANGS:
        args += ["-l", lang]
    result = subprocess.run(
        args, cwd=tmp_path, capture_output=True, text=True, timeout=240, env=_env(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    # then nothing is left untranslated or fuzzy
    missing = {lang: problems(polib.pofile(str(catalogue(lang, tmp_path)))) for lang in LANGS}
    assert {lang: p for lang, p in missing.items() if p} == {}


def _env(tmp_path: Path) -> dict:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(tmp_path)
    env["DJANGO_SETTINGS_MODULE"] = "loyalty.settings"
    return env


@pytest.mark.parametrize("lang", LANGS)
def test_committed_catalogue_is_complete(lang):
    po = polib.pofile(str(catalogue(lang)))

    assert len(po) > 50
    assert problems(po) == []


@pytest.mark.parametrize("lang", LANGS)
def test_compiled_catalogue_matches_the_source(lang):
    po = polib.pofile(str(catalogue(lang)))
    mo = polib.mofile(str(catalogue(lang).with_suffix(".mo")))

    compiled = {(e.msgctxt, e.msgid): e.msgstr for e in mo if not e.msgid_plural}
    source = {(e.msgctxt, e.msgid): e.msgstr for e in po.translated_entries() if not e.msgid_plural}
    assert compiled == source


def test_a_translated_string_is_used_at_run_time():
    from django.utils import translation

    from loyalty import errors

    with translation.override("fi"):
        detail = errors.MemberNotFound().detail
    assert detail != str(errors.MemberNotFound.message)
