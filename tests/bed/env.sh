# Sourced by the test bed scripts: where the bed lives and which Go caches it
# uses. Caches stay in the git-ignored .bed folder so a clean clone is cold and
# a warm checkout reuses them.
bed_scripts=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$bed_scripts/../.." && pwd)
bed=${DV_BED_DIR:-$repo/.bed}
export GOMODCACHE=$bed/gomod
export GOCACHE=$bed/gocache
export GOFLAGS=-mod=readonly
export GOTOOLCHAIN=local
