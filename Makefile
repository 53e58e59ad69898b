# The two entry points of the README: `make demo` (the main job) and
# `make test` (everything CI runs). The other targets are their steps.
.PHONY: demo test bed vectors lint unit-and-integration chart-lint

demo:
	cargo build --release --locked --bins
	target/release/dv-tui --demo

test: bed vectors lint unit-and-integration chart-lint

bed:
	tests/bed/setup

vectors: bed
	tests/bed/vectors

lint:
	cargo fmt --all --check
	cargo clippy --all-targets --locked -- -D warnings
	test -z "$$(gofmt -l tests/bed/go)" || { gofmt -l tests/bed/go; exit 1; }

# Benches are compiled by clippy above and run by `cargo bench`, not here.
unit-and-integration: bed vectors
	cargo test --lib --bins --tests --locked

chart-lint: bed
	tests/chart-lint
