#!/usr/bin/env bash
# Builds CPython <major.minor> from source into /usr/local/python<major.minor> (shared libpython,
# rpath set), the way openEuler's AI images carry their own interpreter instead of the
# distribution's python3. Usage: build-python.sh 3.11 [full version, e.g. 3.11.10]
set -euo pipefail

short="${1:?usage: build-python.sh MAJOR.MINOR [FULL_VERSION]}"
full="${2:-}"
base="${PYTHON_BASE_URL:-https://www.python.org/ftp/python}"
if [[ -z "${full}" ]]; then
    # The last source release of each line this stack uses; override with the second argument.
    case "${short}" in
        3.8) full=3.8.20 ;;
        3.9) full=3.9.20 ;;
        3.10) full=3.10.15 ;;
        3.11) full=3.11.10 ;;
        *) echo "no CPython release known for ${short}: pass the full version" >&2; exit 1 ;;
    esac
fi
if [[ "${full}" != "${short}".* ]]; then
    echo "Python ${full} is not a ${short} release" >&2; exit 1
fi

prefix="/usr/local/python${short}"
work="$(mktemp -d)"
curl -fsSL --retry 3 -o "${work}/Python.tgz" "${base}/${full}/Python-${full}.tgz"
tar -xzf "${work}/Python.tgz" -C "${work}"
cd "${work}/Python-${full}"
./configure --prefix="${prefix}" --enable-shared --with-ensurepip=install \
    LDFLAGS="-Wl,-rpath,${prefix}/lib" >/dev/null
make -j "$(nproc)" >/dev/null
make altinstall >/dev/null
ln -sf "python${short}" "${prefix}/bin/python3"
ln -sf "python${short}" "${prefix}/bin/python"
ln -sf "pip${short}" "${prefix}/bin/pip3"
ln -sf "pip${short}" "${prefix}/bin/pip"
cd /
rm -rf "${work}" "${prefix}/lib/python${short}/test"
"${prefix}/bin/python3" -c 'import ssl, sqlite3, ctypes, sys; print("built", sys.version)'
