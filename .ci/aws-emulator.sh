#!/usr/bin/env bash
# The AWS side of the secret manager tests (cli/tests/secret_managers.rs,
# tests/secret_managers.rs): moto's standalone server, a local emulator of
# the AWS APIs, and the real `aws` CLI, both from PyPI, in the virtual
# environment .venv-aws at the repository root (gitignored).
#
# Quiet and idempotent: a second run installs nothing and takes about a
# second. On success it prints one line, the absolute path of the virtual
# environment, which the tests read from ENVCLOAK_TEST_AWS_VENV:
#
#   ENVCLOAK_TEST_AWS_VENV="$(bash .ci/aws-emulator.sh)"
#   export ENVCLOAK_TEST_AWS_VENV
#
# The tests run "$ENVCLOAK_TEST_AWS_VENV/bin/moto_server" and
# "$ENVCLOAK_TEST_AWS_VENV/bin/aws". Nothing here starts a server or
# touches the network beyond the package index.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-aws
# Known-good majors: moto 5 (its server speaks Secrets Manager, SSM and
# KMS); awscli 1 is the `aws` CLI that PyPI carries (v2 is not published
# there) and reads AWS_ENDPOINT_URL from 1.29 on.
requirements=('moto[server]>=5,<6' 'awscli>=1.32,<2')

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  "${requirements[@]}" >&2

for tool in aws moto_server; do
  if [ ! -x "$venv/bin/$tool" ]; then
    echo "aws-emulator.sh: $venv/bin/$tool is missing after the install" >&2
    exit 1
  fi
done
echo "$PWD/$venv"
