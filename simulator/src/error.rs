//! The API error type and Bitbucket's JSON error envelope.

use serde_json::{json, Value};

/// An error answer: a status and Bitbucket's `{"type":"error","error":{...}}` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// `error.message`.
    pub message: String,
    /// `error.detail`, when there is one.
    pub detail: Option<String>,
}

impl ApiError {
    /// An error with a status and a message.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            detail: None,
        }
    }

    /// The same error with a detail line.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, message)
    }

    /// 404 with a message.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(404, message)
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut error = json!({ "message": self.message });
        if let Some(detail) = &self.detail {
            error["detail"] = json!(detail);
        }
        json!({ "type": "error", "error": error })
    }
}
