# The two entry points of the README: `make demo` (the main job) and
# `make test` (everything CI runs). The other targets are their steps.
.PHONY: demo test release pictures bed vectors images lint unit-and-integration chart-lint

demo:
	cargo build --release --locked --bins
	target/release/dv-tui --demo

test: bed vectors images lint unit-and-integration chart-lint

# This platform's release archive and its krew manifest in dist/
# (RELEASE_BASE_URL sets where the manifest says the archive is published).
release:
	cargo build --release --locked --bins
	assets/release/build "$${CARGO_TARGET_DIR:-target}/release" dist

# The README's screenshots and animation, from a real run of the demo.
pictures:
	assets/pictures/make

bed:
	tests/bed/setup

vectors: bed
	tests/bed/vectors

# The chart's images as OCI archives; the node tests import them.
images: bed
	tests/bed/images --no-import

lint:
	cargo fmt --all --check
	cargo clippy --all-targets --locked -- -D warnings
	test -z "$$(gofmt -l tests/bed/go)" || { gofmt -l tests/bed/go; exit 1; }

# Benches are compiled by clippy above and run by `cargo bench`, not here.
# The node tests bring the bed's node up and take it down themselves; the
# final `node down` also cleans up after a test binary killed by a signal.
unit-and-integration: bed vectors images
	status=0; cargo test --lib --bins --tests --locked || status=$$?; tests/bed/node down; exit $$status

chart-lint: bed
	tests/chart-lint
