//! The access-log formats people run, each recognised without a flag: nginx's own, and the
//! defaults of the distributions that put nginx in front of most applications. Every template is
//! quoted verbatim from the distribution's source (named in `origin`), and every example is a line
//! of the shape that distribution writes; the tests read each example back in its own preset.

use super::format::{Escape, LogFormat, COMBINED, COMMON, MAIN, UPSTREAM};

impl LogFormat {
    /// A built-in format by name (declared here, beside the presets, so that the format compiler
    /// does not depend on its own users).
    pub fn preset(name: &str) -> Option<LogFormat> {
        preset(name).and_then(Preset::compile)
    }
}

/// A built-in format.
pub struct Preset {
    /// The name `--log-format-name` takes and reports show.
    pub name: &'static str,
    /// Who writes it, and where the template comes from.
    pub origin: &'static str,
    /// The `log_format` string, as the distribution writes it.
    pub template: &'static str,
    /// A line of the shape this format writes (a 502 with its upstream where the format logs one).
    pub example: &'static str,
    /// Other lines it writes: retries, canaries, IPv6 clients, `-` for what did not happen.
    pub more: &'static [&'static str],
}

/// The built-in formats, most specific first: auto-detection takes the earlier of two formats
/// that explain the same bytes (a format that also reads `[$the_real_ip]` before the more general
/// one that would take it as part of `$remote_user`).
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "upstream",
        origin: "ngx502's recommended format (README)",
        template: UPSTREAM,
        example: r#"10.0.0.5 - - [14/May/2024:10:22:31 +0000] "GET /v1/items HTTP/1.1" 502 157 "-" "curl/8.5.0" host="api.example.com" cid=48213 rt=0.004 ua="10.0.0.12:8080" us="502" urt="0.004" uct="-" uht="-""#,
        more: &[],
    },
    Preset {
        name: "ingress-nginx-0.25",
        origin: "ingress-nginx 0.25 upstreaminfo (kubernetes/ingress-nginx 8b208cac9, canary upstream added)",
        template: r#"$the_real_ip - [$the_real_ip] - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_length $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] $upstream_addr $upstream_response_length $upstream_response_time $upstream_status $req_id"#,
        example: r#"203.0.113.9 - [203.0.113.9] - - [12/Aug/2019:09:14:01 +0000] "GET /api/items HTTP/1.1" 502 157 "-" "okhttp/3.12.1" 231 0.003 [default-api-80] [] 10.244.1.17:8080 0 0.003 502 7d1bfa4ffbd1d9e5a5c06a4b7e2bc0a5"#,
        more: &[],
    },
    Preset {
        name: "ingress-nginx-0.15",
        origin: "ingress-nginx 0.15-0.24 upstreaminfo (kubernetes/ingress-nginx 51cf184c5, $req_id added)",
        template: r#"$the_real_ip - [$the_real_ip] - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_length $request_time [$proxy_upstream_name] $upstream_addr $upstream_response_length $upstream_response_time $upstream_status $req_id"#,
        example: r#"203.0.113.9 - [203.0.113.9] - - [03/Jul/2018:11:40:12 +0000] "POST /login HTTP/1.1" 502 173 "https://shop.example.com/" "Mozilla/5.0 (X11; Linux x86_64)" 615 0.002 [shop-web-8080] 10.244.2.31:8080, 10.244.3.12:8080 0, 0 0.001, 0.001 502, 502 0b9f3a1c2d4e5f60718293a4b5c6d7e8"#,
        more: &[],
    },
    Preset {
        name: "ingress-nginx-0.9",
        origin: "ingress-nginx before 0.15 upstreaminfo (kubernetes/ingress-nginx 85e6d3084, before $req_id)",
        template: r#"$the_real_ip - [$the_real_ip] - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_length $request_time [$proxy_upstream_name] $upstream_addr $upstream_response_length $upstream_response_time $upstream_status"#,
        example: r#"203.0.113.9 - [203.0.113.9] - - [21/Feb/2018:16:02:44 +0000] "GET /status HTTP/1.1" 504 183 "-" "curl/7.58.0" 84 60.001 [default-api-80] 10.244.0.9:3000 0 60.001 504"#,
        more: &[],
    },
    Preset {
        name: "ingress-nginx",
        origin: "ingress-nginx >= 0.26 upstreaminfo (kubernetes/ingress-nginx internal/ingress/controller/config/config.go)",
        template: r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_length $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] $upstream_addr $upstream_response_length $upstream_response_time $upstream_status $req_id"#,
        example: r#"3.18.201.127 - - [17/Apr/2023:20:24:55 +0000] "POST /api/authentication/token HTTP/1.1" 502 150 "-" "axios/0.23.0" 340 0.016 [auth-api-80] [] 10.244.1.17:8080 0 0.016 502 baef50777d0f3651f32233c609ad0e7e"#,
        more: &[
            r#"10.0.0.1 - - [17/Apr/2023:20:24:56 +0000] "GET /healthz HTTP/1.1" 200 2 "-" "kube-probe/1.27" 110 0.001 [default-web-80] [default-web-canary-80] 10.244.1.17:8080 2 0.001 200 8f1e2d3c4b5a69788796a5b4c3d2e1f0"#,
            r#"2001:db8::7 - bob [17/Apr/2023:20:24:57 +0000] "POST /api HTTP/2.0" 504 160 "https://app.example.com/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)" 512 10.002 [default-api-80] [] 10.244.1.17:8080, 10.244.2.9:8080 0, 0 5.001, 5.001 504, 504 0a1b2c3d4e5f60718293a4b5c6d7e8f9"#,
            r#"203.0.113.50 - - [17/Apr/2023:20:24:58 +0000] "" 400 150 "-" "-" 0 0.001 [] [] - - - - 2c3d4e5f60718293a4b5c6d7e8f90a1b"#,
        ],
    },
    Preset {
        name: "main_ext",
        origin: "NGINX Amplify / NGINX Plus docs main_ext (nginxinc/nginx-amplify-doc)",
        template: r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for" "$host" sn="$server_name" rt=$request_time ua="$upstream_addr" us="$upstream_status" ut="$upstream_response_time" ul="$upstream_response_length" cs=$upstream_cache_status"#,
        example: r#"198.51.100.4 - - [14/May/2024:10:22:31 +0000] "GET /cart HTTP/1.1" 502 157 "-" "Mozilla/5.0" "-" "shop.example.com" sn="shop.example.com" rt=0.002 ua="10.0.0.12:8080" us="502" ut="0.002" ul="0" cs=-"#,
        more: &[
            r#"198.51.100.4 - - [14/May/2024:10:22:32 +0000] "GET /cart HTTP/1.1" 200 1024 "-" "Mozilla/5.0" "203.0.113.9" "shop.example.com" sn="shop.example.com" rt=0.005 ua="10.0.0.12:8080, 10.0.0.13:8080" us="502, 200" ut="0.001, 0.004" ul="0, 1024" cs=MISS"#,
            r#"198.51.100.4 - - [14/May/2024:10:22:33 +0000] "GET /logo.png HTTP/1.1" 200 5120 "-" "Mozilla/5.0" "-" "shop.example.com" sn="shop.example.com" rt=0.000 ua="-" us="-" ut="-" ul="-" cs=HIT"#,
        ],
    },
    Preset {
        name: "npm-proxy",
        origin: "Nginx Proxy Manager `proxy` (NginxProxyManager/nginx-proxy-manager docker/rootfs/etc/nginx/conf.d/include/log-proxy.conf)",
        template: r#"[$time_local] $upstream_cache_status $upstream_status $status - $request_method $scheme $host "$request_uri" [Client $remote_addr] [Length $body_bytes_sent] [Gzip $gzip_ratio] [Sent-to $server] "$http_user_agent" "$http_referer""#,
        example: r#"[14/May/2024:10:22:31 +0000] - 502 502 - GET https cloud.example.com "/index.php/apps/files/" [Client 203.0.113.7] [Length 552] [Gzip 4.41] [Sent-to 192.168.1.20] "Mozilla/5.0 (Windows NT 10.0; Win64; x64)" "-""#,
        more: &[
            r#"[14/May/2024:10:22:32 +0000] HIT 200 200 - GET https cloud.example.com "/status.php" [Client 2001:db8::9] [Length 120] [Gzip -] [Sent-to nextcloud] "curl/8.5.0" "https://cloud.example.com/""#,
            r#"[14/May/2024:10:22:33 +0000] - 502, 502 502 - POST https cloud.example.com "/upload" [Client 203.0.113.7] [Length 0] [Gzip -] [Sent-to 192.168.1.20] "Mozilla/5.0" "-""#,
        ],
    },
    Preset {
        name: "npm-standard",
        origin: "Nginx Proxy Manager `standard`, redirection and dead hosts (same file)",
        template: r#"[$time_local] $status - $request_method $scheme $host "$request_uri" [Client $remote_addr] [Length $body_bytes_sent] [Gzip $gzip_ratio] "$http_user_agent" "$http_referer""#,
        example: r#"[14/May/2024:10:22:31 +0000] 301 - GET http old.example.com "/" [Client 203.0.113.7] [Length 166] [Gzip -] "curl/8.5.0" "-""#,
        more: &[],
    },
    Preset {
        name: "cp_combined",
        origin: "cPanel ea-nginx cp_combined (CpanelInc/ea-nginx SOURCES/cpanel/ea-nginx/global-logging.tt)",
        template: r#"$server_name:$server_port $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#,
        example: r#"shop.example.com:443 203.0.113.7 - - [14/May/2024:10:22:31 -0500] "GET /wp-admin/ HTTP/2.0" 502 166 "-" "Mozilla/5.0""#,
        more: &[
            r#"shop.example.com:443 2001:db8::1 - - [14/May/2024:10:22:32 -0500] "POST /wp-login.php HTTP/2.0" 200 4523 "https://shop.example.com/wp-login.php" "Mozilla/5.0""#,
        ],
    },
    Preset {
        name: "cp_common",
        origin: "cPanel ea-nginx cp_common (same file)",
        template: r#"$server_name:$server_port $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent"#,
        example: r#"shop.example.com:80 203.0.113.7 - - [14/May/2024:10:22:31 -0500] "GET / HTTP/1.1" 502 166"#,
        more: &[],
    },
    Preset {
        name: "vhost",
        origin: "nginx-proxy vhost since 0.9.1 (nginx-proxy/nginx-proxy nginx.tmpl 9f069a4)",
        template: r#"$host $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$upstream_addr""#,
        example: r#"whoami.example.com 172.18.0.1 - - [14/May/2024:10:22:31 +0000] "GET / HTTP/1.1" 502 157 "-" "curl/8.5.0" "172.18.0.3:8000""#,
        more: &[
            r#"whoami.example.com 172.18.0.1 - - [14/May/2024:10:22:32 +0000] "GET / HTTP/1.1" 200 12 "-" "curl/8.5.0" "172.18.0.3:8000, 172.18.0.4:8000""#,
            r#"whoami.example.com 172.18.0.1 - - [14/May/2024:10:22:33 +0000] "GET / HTTP/1.1" 503 190 "-" "curl/8.5.0" "-""#,
        ],
    },
    Preset {
        name: "vhost-0.9",
        origin: "nginx-proxy vhost before 0.9.1, without $upstream_addr (same file)",
        template: r#"$host $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#,
        example: r#"whoami.example.com 172.18.0.1 - - [14/May/2024:10:22:31 +0000] "GET / HTTP/1.1" 502 157 "-" "curl/8.5.0""#,
        more: &[],
    },
    Preset {
        name: "kong",
        origin: "Kong >= 3.5 kong_log_format (Kong/kong kong/templates/nginx_kong.lua)",
        template: r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" kong_request_id: "$kong_request_id""#,
        example: r#"172.19.0.1 - - [14/May/2024:10:22:31 +0000] "GET /orders HTTP/1.1" 502 126 "-" "HTTPie/3.2.2" kong_request_id: "c48604ca1518bcb38bb2661a155d5fff""#,
        more: &[
            r#"172.19.0.1 - - [14/May/2024:10:22:32 +0000] "POST /orders HTTP/1.1" 201 48 "-" "HTTPie/3.2.2" kong_request_id: "0a1b2c3d4e5f60718293a4b5c6d7e8f9""#,
        ],
    },
    Preset {
        name: "gitlab_access",
        origin: "GitLab Omnibus gitlab_access (gitlabhq/omnibus-gitlab files/gitlab-cookbooks/nginx/attributes/default.rb)",
        template: r#"$remote_addr - $remote_user [$time_local] "$request_method $filtered_request_uri $server_protocol" $status $body_bytes_sent "$filtered_http_referer" "$http_user_agent" $gzip_ratio"#,
        example: r#"198.51.100.23 - - [14/May/2024:10:22:31 +0000] "GET /api/v4/projects?private_token=[FILTERED] HTTP/1.1" 502 2916 "-" "python-requests/2.31.0" -"#,
        more: &[
            r#"198.51.100.23 - alice [14/May/2024:10:22:32 +0000] "GET /group/project/-/merge_requests HTTP/2.0" 200 51234 "https://gitlab.example.com/group/project" "Mozilla/5.0 (X11; Linux x86_64)" 3.21"#,
        ],
    },
    Preset {
        name: "discourse",
        origin: "Discourse (discourse/discourse config/nginx.sample.conf, with \"$http_host\")",
        template: r#"[$time_local] "$http_host" $remote_addr "$request" "$http_user_agent" "$sent_http_x_discourse_route" $status $bytes_sent "$http_referer" $upstream_response_time $request_time "$upstream_http_x_discourse_username" "$upstream_http_x_discourse_trackview" "$upstream_http_x_queue_time" "$upstream_http_x_redis_calls" "$upstream_http_x_redis_time" "$upstream_http_x_sql_calls" "$upstream_http_x_sql_time""#,
        example: r#"[14/May/2024:10:22:31 +0000] "forum.example.com" 203.0.113.7 "GET /latest.json HTTP/2.0" "Mozilla/5.0" "list/latest" 502 568 "https://forum.example.com/" 0.004 0.004 "-" "-" "-" "-" "-" "-" "-""#,
        more: &[
            r#"[14/May/2024:10:22:32 +0000] "forum.example.com" 203.0.113.7 "GET /t/1.json HTTP/2.0" "Mozilla/5.0" "topics/show" 200 12345 "-" 0.125 0.130 "alice" "-" "0.000" "3" "0.002" "10" "0.080""#,
            r#"[14/May/2024:10:22:33 +0000] "forum.example.com" 203.0.113.7 "GET /favicon.ico HTTP/2.0" "Mozilla/5.0" "-" 200 1150 "-" - 0.000 "-" "-" "-" "-" "-" "-" "-""#,
        ],
    },
    Preset {
        name: "discourse-old",
        origin: "Discourse log_discourse, older sample (discourse/discourse config/nginx.sample.conf)",
        template: r#"[$time_local] $remote_addr "$request" "$http_user_agent" "$sent_http_x_discourse_route" $status $bytes_sent "$http_referer" $upstream_response_time $request_time "$sent_http_x_discourse_username""#,
        example: r#"[14/May/2024:10:22:31 +0000] 203.0.113.7 "GET /t/welcome/8.json HTTP/1.1" "Mozilla/5.0" "topics/show" 504 568 "-" 60.001 60.001 "-""#,
        more: &[],
    },
    Preset {
        name: "main",
        origin: "nginx.org packages and the official Docker image; F5 NGINX Ingress Controller (nginxinc/docker-nginx, nginx/kubernetes-ingress)",
        template: MAIN,
        example: r#"172.17.0.1 - - [14/May/2024:10:22:31 +0000] "GET / HTTP/1.1" 502 157 "-" "curl/8.5.0" "203.0.113.7, 10.0.0.2""#,
        more: &[],
    },
    Preset {
        name: "combined",
        origin: "nginx built-in; Debian/Ubuntu packages, OpenResty, Mastodon (nginx/nginx ngx_http_log_module.c)",
        template: COMBINED,
        example: r#"203.0.113.7 - - [14/May/2024:10:22:31 +0200] "GET /v1/items?page=2 HTTP/1.1" 502 157 "-" "curl/8.5.0""#,
        more: &[],
    },
    Preset {
        name: "common",
        origin: "the Common Log Format",
        template: COMMON,
        example: r#"203.0.113.7 - - [14/May/2024:10:22:31 +0200] "GET / HTTP/1.1" 502 157"#,
        more: &[],
    },
];

/// The built-in format called `name`.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

impl Preset {
    /// The example and the other lines.
    pub fn lines(&self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.example).chain(self.more.iter().copied())
    }

    /// The compiled format (every preset compiles; a test holds them to it).
    pub fn compile(&self) -> Option<LogFormat> {
        LogFormat::compile(self.name, self.template, Escape::Default).ok()
    }
}

/// The preset names, for messages: `upstream, ingress-nginx-0.25, ...`.
pub fn names() -> String {
    PRESETS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::parse::split_template;

    #[test]
    fn every_preset_compiles_and_reads_its_example_whole() {
        for p in PRESETS {
            let format = p.compile().unwrap_or_else(|| panic!("{} compiles", p.name));
            for line in p.lines() {
                assert!(split_template(&format, line.as_bytes(), |_, _, _| {}).is_ok(), "{line}");
            }
        }
        let names: std::collections::HashSet<&str> = PRESETS.iter().map(|p| p.name).collect();
        assert_eq!(names.len(), PRESETS.len(), "names are unique");
    }
}
