//! The nginx variables whose meaning ngx502 understands.

/// A variable nginx can write into an access log that ngx502 uses for the diagnosis.
/// Any other variable in a `log_format` is kept as an opaque named field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    RemoteAddr,
    RealipRemoteAddr,
    XForwardedFor,
    RemoteUser,
    TimeLocal,
    TimeIso8601,
    Msec,
    Request,
    RequestMethod,
    RequestUri,
    Uri,
    Args,
    Status,
    BodyBytesSent,
    BytesSent,
    RequestTime,
    UpstreamAddr,
    UpstreamStatus,
    UpstreamResponseTime,
    UpstreamConnectTime,
    UpstreamHeaderTime,
    UpstreamResponseLength,
    Connection,
    ConnectionRequests,
    RequestId,
    Host,
    ServerName,
    HttpHost,
    HttpReferer,
    HttpUserAgent,
    Pid,
}

/// How many [`Field`]s there are: records store one slot per field.
pub const FIELD_COUNT: usize = Field::Pid as usize + 1;

const NAMES: [(&str, Field); FIELD_COUNT] = [
    ("remote_addr", Field::RemoteAddr),
    ("realip_remote_addr", Field::RealipRemoteAddr),
    ("http_x_forwarded_for", Field::XForwardedFor),
    ("remote_user", Field::RemoteUser),
    ("time_local", Field::TimeLocal),
    ("time_iso8601", Field::TimeIso8601),
    ("msec", Field::Msec),
    ("request", Field::Request),
    ("request_method", Field::RequestMethod),
    ("request_uri", Field::RequestUri),
    ("uri", Field::Uri),
    ("args", Field::Args),
    ("status", Field::Status),
    ("body_bytes_sent", Field::BodyBytesSent),
    ("bytes_sent", Field::BytesSent),
    ("request_time", Field::RequestTime),
    ("upstream_addr", Field::UpstreamAddr),
    ("upstream_status", Field::UpstreamStatus),
    ("upstream_response_time", Field::UpstreamResponseTime),
    ("upstream_connect_time", Field::UpstreamConnectTime),
    ("upstream_header_time", Field::UpstreamHeaderTime),
    ("upstream_response_length", Field::UpstreamResponseLength),
    ("connection", Field::Connection),
    ("connection_requests", Field::ConnectionRequests),
    ("request_id", Field::RequestId),
    ("host", Field::Host),
    ("server_name", Field::ServerName),
    ("http_host", Field::HttpHost),
    ("http_referer", Field::HttpReferer),
    ("http_user_agent", Field::HttpUserAgent),
    ("pid", Field::Pid),
];

/// Variables of popular distributions that hold what a built-in variable holds: ingress-nginx's
/// `$the_real_ip` (the client, from X-Forwarded-For when trusted, which is also what the error
/// log's `client:` shows), GitLab's `$filtered_*` (the same values with secrets masked).
const ALIASES: [(&str, Field); 3] = [
    ("the_real_ip", Field::RemoteAddr),
    ("filtered_request_uri", Field::RequestUri),
    ("filtered_http_referer", Field::HttpReferer),
];

impl Field {
    /// The field an nginx variable name (without `$`) stands for.
    pub fn from_variable(name: &str) -> Option<Field> {
        NAMES.iter().chain(&ALIASES).find(|(n, _)| *n == name).map(|&(_, f)| f)
    }

    /// Every field, in declaration order.
    pub fn all() -> impl Iterator<Item = Field> {
        NAMES.iter().map(|&(_, f)| f)
    }

    /// The nginx variable name, without `$`.
    pub fn variable(self) -> &'static str {
        NAMES[self as usize].0
    }

    /// Fields that hold one entry per upstream attempt, joined by `", "` and `" : "`: their
    /// values contain spaces, so a space after them is not necessarily the end of the value.
    pub fn is_attempt_list(self) -> bool {
        matches!(
            self,
            Field::UpstreamAddr
                | Field::UpstreamStatus
                | Field::UpstreamResponseTime
                | Field::UpstreamConnectTime
                | Field::UpstreamHeaderTime
                | Field::UpstreamResponseLength
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_table_is_in_enum_order() {
        for (i, (name, field)) in NAMES.iter().enumerate() {
            assert_eq!(*field as usize, i, "{name}");
            assert_eq!(Field::from_variable(name), Some(*field));
        }
        assert_eq!(Field::from_variable("scheme"), None);
    }
}
