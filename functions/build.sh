#!/usr/bin/env bash
# Builds the guest modules of functions/ into functions/build/:
#
#   build/{hello,echo,wordcount,csv2json}.wasm  Go reactors (SDK, -buildmode=c-shared)
#   build/upper.wasm                    Go WASI command (no SDK)
#   build/ping.wasm                     hand-written reactor (wat/ping.wat)
#   build/testdata/*.wasm               runtime test fixtures (testdata/*.wat,
#                                       testdata/gopanic)
#
# Usage: functions/build.sh [target…]   targets: go command wat fixtures
# (default: all of them). Runs from anywhere; paths are relative to the
# repository root. Needs go and wat2wasm (Debian package wabt).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=functions/build
reactors=(hello echo wordcount csv2json)

# Every Go module: reproducible paths, no symbol table or DWARF.
goflags=(-trimpath -ldflags=-s\ -w)

build_go() {
	mkdir -p "$out"
	for name in "${reactors[@]}"; do
		GOOS=wasip1 GOARCH=wasm go build "${goflags[@]}" -buildmode=c-shared \
			-o "$out/$name.wasm" "./functions/$name"
	done
}

build_command() {
	mkdir -p "$out"
	GOOS=wasip1 GOARCH=wasm go build "${goflags[@]}" -o "$out/upper.wasm" ./functions/upper
}

need_wat2wasm() {
	if ! command -v wat2wasm >/dev/null; then
		echo "build.sh: wat2wasm not found: install wabt (go tool task fn:tools, or apt-get install wabt)" >&2
		exit 1
	fi
}

build_wat() {
	need_wat2wasm
	mkdir -p "$out"
	for src in functions/wat/*.wat; do
		wat2wasm -o "$out/$(basename "$src" .wat).wasm" "$src"
	done
}

build_fixtures() {
	need_wat2wasm
	mkdir -p "$out/testdata"
	for src in functions/testdata/*.wat; do
		wat2wasm -o "$out/testdata/$(basename "$src" .wat).wasm" "$src"
	done
	GOOS=wasip1 GOARCH=wasm go build "${goflags[@]}" -buildmode=c-shared \
		-o "$out/testdata/gopanic.wasm" ./functions/testdata/gopanic
}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	targets=(go command wat fixtures)
fi
for t in "${targets[@]}"; do
	case "$t" in
	go) build_go ;;
	command) build_command ;;
	wat) build_wat ;;
	fixtures) build_fixtures ;;
	*)
		echo "build.sh: unknown target $t (want go, command, wat or fixtures)" >&2
		exit 2
		;;
	esac
done
