//! `kubectl_complete-dv`: what kubectl 1.26+ runs to complete `kubectl dv
//! ...` (it passes the words after `dv`). Logic lives in `dv_pod::plugin`.

fn main() -> std::process::ExitCode {
    dv_pod::plugin::complete_for_kubectl(std::env::args_os().skip(1).collect())
}
