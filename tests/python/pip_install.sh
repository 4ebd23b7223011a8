#!/bin/sh
# `pip install ./python` works offline (Debian's python3-setuptools and python3-wheel, no index)
# and the installed package imports and reaches libdsa.
#   tests/python/pip_install.sh PYTHON SOURCE_DIR LIBDSA
# The package is copied first: setuptools builds in the source folder, which must stay clean.
set -eu
py=$1 src=$2 lib=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$src/python" "$tmp/src"
"$py" -m pip --version >/dev/null 2>&1 || { echo "pip_install: $py has no pip (install python3-pip: scripts/setup.sh)" >&2; exit 1; }
PIP_NO_INDEX=1 PIP_ROOT_USER_ACTION=ignore PYTHONDONTWRITEBYTECODE=1 "$py" -m pip install --quiet --no-build-isolation --no-deps --no-index --target "$tmp/site" "$tmp/src"
cd "$tmp"
PYTHONPATH="$tmp/site" DSA_LIBRARY="$lib" "$py" -c '
import dsa, sys
assert dsa.__file__.startswith(sys.argv[1]), dsa.__file__
q, s = dsa.quantize_fp8(__import__("numpy").ones((1, 128), "float32"))
assert float(s[0, 0]) == 2.0 ** -8, s
print("installed dsa", dsa.__version__, "runs libdsa", dsa.version(), "from", dsa.library_path())
' "$tmp/site"
