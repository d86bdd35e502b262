# drover's front door. `make run` and `make test` work on a fresh Debian 12 machine: both
# install what is missing (scripts/install-deps), configure and build first.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?= 10000000

.PHONY: all deps build run demo test fuzz bench format clean install image image-test deb deb-test
PREFIX ?= /usr/local

all: build

deps:
	@./scripts/install-deps

build: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) --werror
	@ninja -C $(BUILD)

# droverd in the foreground with the built-in configuration (Ctrl-C stops it gracefully).
run: build
	exec $(BUILD)/src/droverd

# droverd with every door open on loopback and two services (docs/examples/demo.yaml).
demo: build
	exec $(BUILD)/src/droverd --config docs/examples/demo.yaml

# Every test, in a -Werror build and in an ASan+UBSan build; ends with "N passed, N failed".
test: deps
	@/usr/bin/python3 scripts/run-tests --build $(BUILD) --asan-build $(ASAN_BUILD)

# libFuzzer on every target in turn, each for FUZZ_SECONDS or FUZZ_RUNS inputs, whichever comes
# first, from the committed corpora; findings kept in $(FUZZ_BUILD)/campaign, figures printed as a
# table (scripts/fuzz-campaign --doc docs/FUZZING.md writes it there; --merge grows the corpora).
fuzz: deps
	@[ -f $(FUZZ_BUILD)/build.ninja ] || CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all
	@ninja -C $(FUZZ_BUILD)
	@/usr/bin/python3 scripts/fuzz-campaign --build $(FUZZ_BUILD) --seconds $(FUZZ_SECONDS) \
		--runs $(FUZZ_RUNS)

# Every scenario against the peers, written to docs/BENCHMARKS.md with plots (QUICK=1: shorter).
bench: build
	@./bench/run-report

# drover, droverd, systemd units (system and user), man pages and bash/zsh completions, under
# $(DESTDIR)$(PREFIX). `drover startup` then enables the unit.
install: build
	@meson configure $(BUILD) -Dprefix=$(PREFIX) >/dev/null
	@meson install -C $(BUILD) --destdir "$(DESTDIR)"

# The OCI image localhost/drover:VERSION (and :latest), from a release build and this machine's
# Debian packages, nothing from a registry (scripts/build-image); droverd is its PID 1.
image:
	@./scripts/install-deps image
	@./scripts/build-image

# The image under podman (tests/image): skipped, saying why, where podman cannot run it.
image-test: image
	@/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/image

# The Debian package, built (dpkg-buildpackage) from a copy of the tracked files in build-deb/,
# and checked with lintian: build-deb/drover_VERSION_ARCH.deb.
deb: deps
	@rm -rf build-deb && mkdir -p build-deb/src
	@git ls-files -z | xargs -0 cp --parents -t build-deb/src
	@cd build-deb/src && dpkg-buildpackage -b -us -uc >../build.log 2>&1 || \
		{ tail -n 30 ../build.log; exit 1; }
	@lintian --fail-on error,warning build-deb/*.changes
	@ls build-deb/*.deb

# The package installed into a fresh Debian 12 root, then droverd and a service run there.
deb-test: deb
	@./scripts/deb-test

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) build-release build-deb
