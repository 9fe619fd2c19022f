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
    /// `error.data`, when there is one.
    pub data: Option<Value>,
    /// Whether `data` is repeated at the top level of the body (as the CHANGE-2770 410 does).
    pub data_top_level: bool,
}

impl ApiError {
    /// An error with a status and a message.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            detail: None,
            data: None,
            data_top_level: false,
        }
    }

    /// The same error with `error.data` (and, with `top_level`, the same `data` beside `error`).
    pub fn with_data(mut self, data: Value, top_level: bool) -> Self {
        self.data = Some(data);
        self.data_top_level = top_level;
        self
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
        if let Some(data) = &self.data {
            error["data"] = data.clone();
        }
        let mut body = json!({ "type": "error", "error": error });
        if let (true, Some(data)) = (self.data_top_level, &self.data) {
            body["data"] = data.clone();
        }
        body
    }
}
