# The dv-sidecar image: the sidecar binary and the Charon it drives, on a
# shell-less base, running as uid/gid 1000 like the Charon image (so files
# written during the DKG belong to the user Charon and the VC run as).
# Tags are pinned; pin digests too when you publish.

FROM docker.io/library/rust:1.95.0-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml build.rs ./
COPY src ./src
# build.rs packages the chart into the binaries (src/chart.rs).
COPY chart ./chart
COPY benches ./benches
RUN cargo build --release --locked --bin dv-sidecar

# Charon v1.10.3, the version the test bed builds and the chart's appVersion.
FROM docker.io/obolnetwork/charon:v1.10.3 AS charon

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/dv-sidecar /usr/local/bin/dv-sidecar
COPY --from=charon /usr/local/bin/charon /usr/local/bin/charon
USER 1000:1000
WORKDIR /charon-data
ENTRYPOINT ["/usr/local/bin/dv-sidecar"]
