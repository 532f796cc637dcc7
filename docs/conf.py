"""Sphinx configuration of the claimguard documentation.

Build it with ``make docs`` (HTML in docs/_build/html); ``make test`` builds it again
with warnings as errors, runs the doctests and checks the links between pages.

The build never touches the network:

* Intersphinx reads four inventories kept in this repository, under
  ``docs/_inventories/`` (Python, Flask, Werkzeug, requests), not the ones the projects
  publish. The installed packages ship no documentation inventory and this machine, like
  CI, cannot download one, so ``docs/_inventories/build.py`` writes each of them, in
  Sphinx's inventory format, from the short list of names these pages actually refer to,
  each pointing at its page in that project's published documentation. A name the pages
  start to use and the list lacks is a broken reference, which ``nitpicky`` below turns
  into a failed build: add it to the list and run the script again.
* The Pallets theme's version banner (a script that asks the package index for the
  newest release, in the reader's browser) is turned off.
* Links are checked without leaving the site. Every cross-reference must resolve
  (``nitpicky``, and ``-W`` in ``make docs-check``); after the HTML build,
  ``docs/_ext/claimguard_docs.py`` follows every relative link and anchor of every page;
  ``linkcheck`` runs with every external link ignored, since neither this machine nor
  CI can reach them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pallets_sphinx_themes import ProjectLink
from pallets_sphinx_themes import get_version

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))

# -- Project ---------------------------------------------------------------------------

project = "claimguard"
copyright = "the claimguard authors"
author = "the claimguard authors"
release, version = get_version("flask-claimguard")

# -- General ---------------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "myst_parser",
    "pallets_sphinx_themes",
    "claimguard_docs",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_inventories", "Thumbs.db", ".DS_Store"]
# Every cross-reference must resolve: a reference to a name that is neither documented
# here nor in a local inventory is a warning, and ``-W`` makes it an error.
nitpicky = True
nitpick_ignore = [
    # Type variables of the decorators and of error_handler.
    ("py:class", "claimguard.decorators.F"),
    ("py:class", "claimguard.extension.C"),
    # Internal names that public signatures and docstrings mention: they are not part
    # of the public API, so the reference does not document them.
    ("py:class", "claimguard.fetching.Transport"),
    ("py:class", "claimguard.keys.VerificationKey"),
    ("py:class", "claimguard.testing.issuer._App"),
    ("py:class", "KeyFile"),
    ("py:meth", "KeyFile.read"),
    ("py:func", "parse_credentials"),
    ("py:data", "MAX_TOKEN_BYTES"),
    ("py:mod", "claimguard.claims"),
]
# SECURITY.md and bench/README.md are included under a page title of their own, so
# their "##" headings are the page's sections: MyST's note that they do not start at
# "#" is expected here.
suppress_warnings = ["myst.header"]

# -- Autodoc ---------------------------------------------------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True}

# -- Intersphinx (offline: see the module docstring) -----------------------------------

_INVENTORIES = DOCS / "_inventories"
intersphinx_mapping = {
    "python": ("https://docs.python.org/3/", str(_INVENTORIES / "python.inv")),
    "flask": ("https://flask.palletsprojects.com/en/stable/", str(_INVENTORIES / "flask.inv")),
    "werkzeug": (
        "https://werkzeug.palletsprojects.com/en/stable/",
        str(_INVENTORIES / "werkzeug.inv"),
    ),
    "requests": ("https://requests.readthedocs.io/en/latest/", str(_INVENTORIES / "requests.inv")),
}
intersphinx_timeout = 1

# -- Doctest ---------------------------------------------------------------------------

doctest_global_setup = ""

# -- MyST (SECURITY.md is included as it is) -------------------------------------------

myst_heading_anchors = 3

# -- HTML ------------------------------------------------------------------------------

html_theme = "flask"
html_theme_options = {"index_sidebar_logo": False}
html_context = {
    "project_links": [
        ProjectLink("Source Code", "https://github.com/claimguard/flask-claimguard"),
        ProjectLink("Issue Tracker", "https://github.com/claimguard/flask-claimguard/issues/"),
    ]
}
html_sidebars = {
    "index": ["project.html", "localtoc.html", "searchbox.html"],
    "**": ["localtoc.html", "relations.html", "searchbox.html"],
}
singlehtml_sidebars = {"index": ["project.html", "localtoc.html"]}
html_static_path = ["_static"]
html_title = f"claimguard Documentation ({version})"
html_show_sourcelink = False
version_banner = False

# -- Link check: external links cannot be reached here, nor in CI ---------------------

linkcheck_ignore = [r"https?://", r"mailto:"]
