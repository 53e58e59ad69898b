//! reqwest's own message for a failed request is only "error sending request
//! for url (...)": the cause an operator can act on (connection refused, a
//! name that does not resolve, a TLS failure) is in its sources.

/// The error with every cause, without the URL (callers name the endpoint).
pub fn with_causes(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_refused_connection_is_named_as_such() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let error = reqwest::get(format!("http://127.0.0.1:{port}/")).await.unwrap_err();
        let text = super::with_causes(error);
        assert!(text.contains("onnection refused"), "{text}");
        assert!(!text.contains("127.0.0.1"), "the caller names the endpoint: {text}");
    }
}
