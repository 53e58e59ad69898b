//! The output of programs dv-pod runs (helm, charon) as lines: stdout and
//! stderr merged in arrival order, for the wizard's install view and the
//! sidecar's DKG log and progress.

use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::Child,
    sync::mpsc,
};

/// Takes `child`'s piped stdout and stderr and yields their lines; the
/// channel closes once both have ended.
pub fn lines(child: &mut Child) -> mpsc::UnboundedReceiver<String> {
    let (sender, receiver) = mpsc::unbounded_channel();
    let streams: [Option<Box<dyn AsyncRead + Unpin + Send>>; 2] = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn AsyncRead + Unpin + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn AsyncRead + Unpin + Send>),
    ];
    for stream in streams.into_iter().flatten() {
        let sender = sender.clone();
        tokio::spawn(async move {
            // Split on bytes and decode lossily: a stray non-UTF-8 byte must
            // not stop the draining, or the child blocks on a full pipe.
            let mut lines = BufReader::new(stream).split(b'\n');
            while let Ok(Some(line)) = lines.next_segment().await {
                let line = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(&line)).into_owned();
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
    }
    receiver
}

#[cfg(test)]
mod tests {
    use std::process::Stdio;

    #[tokio::test]
    async fn both_streams_arrive_and_the_channel_ends_with_the_program() {
        let mut child = tokio::process::Command::new("sh")
            .args(["-c", r"echo out; printf 'err \377\n' >&2; echo after"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut receiver = super::lines(&mut child);
        let mut seen = Vec::new();
        while let Some(line) = receiver.recv().await {
            seen.push(line);
        }
        seen.sort();
        assert_eq!(seen, ["after", "err \u{fffd}", "out"], "a non-UTF-8 byte does not stop the reading");
        assert!(child.wait().await.unwrap().success());
    }
}
