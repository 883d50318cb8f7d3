//! A private nginx: its own prefix, config, pid file and logs in a temp dir, in the foreground
//! (`daemon off`), stopped gracefully with `-s quit` so every log line is on disk before we read it.
//! Never the system service.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The nginx binary: `$NGX502_NGINX`, else Debian's `/usr/sbin/nginx`, else `nginx` on `PATH`.
pub fn find_nginx() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NGX502_NGINX") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let debian = Path::new("/usr/sbin/nginx");
    if debian.is_file() {
        return Some(debian.to_path_buf());
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("nginx")).find(|p| p.is_file()))
}

/// True when running in CI, where a missing nginx is a failure and not a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").map(|v| v == "true" || v == "1").unwrap_or(false)
}

/// Whether we run as root; nginx then needs `user root;` so its workers can reach our unix sockets and
/// temp dir (otherwise they would switch to `nobody`).
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// A free loopback port for nginx to listen on (released right before nginx binds it).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// `nginx -t` on `conf` with its own prefix (startup errors go to `prefix/startup-error.log`);
/// `Err` holds nginx's own words.
pub fn syntax_check(bin: &Path, prefix: &Path, conf: &Path, tz: &str) -> Result<(), String> {
    let test = Command::new(bin)
        .args(["-t", "-q"])
        .arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(conf)
        .arg("-e")
        .arg(prefix.join("startup-error.log"))
        .env("TZ", tz)
        .output()
        .expect("run nginx -t");
    if test.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&test.stderr).into_owned())
    }
}

pub struct Nginx {
    bin: PathBuf,
    prefix: PathBuf,
    conf: PathBuf,
    child: Option<Child>,
    tz: String,
    pub listen: SocketAddr,
}

impl Nginx {
    /// Writes `conf_text` to `<prefix>/nginx.conf`, starts nginx with `TZ=tz`, and waits until it
    /// accepts connections on `listen` (polling, bounded). Errs with nginx's own words if it exits
    /// during startup (e.g. the port was taken).
    pub fn start(
        bin: &Path,
        prefix: &Path,
        conf_text: &str,
        listen: SocketAddr,
        tz: &str,
    ) -> Result<Nginx, String> {
        assert!(listen.ip().is_loopback());
        let conf = prefix.join("nginx.conf");
        std::fs::write(&conf, conf_text).expect("write nginx.conf");
        // Syntax check first: a clear message beats a refused connection.
        if let Err(e) = syntax_check(bin, prefix, &conf, tz) {
            panic!("nginx -t rejected the generated config:\n{e}\n--- config ---\n{conf_text}");
        }
        let child = Command::new(bin)
            .arg("-p")
            .arg(prefix)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(prefix.join("startup-error.log"))
            .env("TZ", tz)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nginx");
        let mut nginx = Nginx {
            bin: bin.to_path_buf(),
            prefix: prefix.to_path_buf(),
            conf,
            child: Some(child),
            tz: tz.to_string(),
            listen,
        };
        nginx.wait_ready()?;
        Ok(nginx)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let pid_file = self.prefix.join("nginx.pid");
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().expect("try_wait nginx") {
                let mut err = String::new();
                if let Some(mut e) = self.child.take().unwrap().stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                let startup =
                    std::fs::read_to_string(self.prefix.join("startup-error.log")).unwrap_or_default();
                return Err(format!("nginx exited during startup ({status}):\n{err}\n{startup}"));
            }
            if pid_file.exists()
                && TcpStream::connect_timeout(&self.listen, Duration::from_millis(200)).is_ok()
            {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not accept connections on {} within 10 s",
                self.listen
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, sig: &str) {
        let out = Command::new(&self.bin)
            .arg("-p")
            .arg(&self.prefix)
            .arg("-c")
            .arg(&self.conf)
            .arg("-e")
            .arg(self.prefix.join("startup-error.log"))
            .args(["-s", sig])
            .env("TZ", &self.tz)
            .output()
            .expect("run nginx -s");
        assert!(out.status.success(), "nginx -s {sig} failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Log rotation: nginx reopens its log files (SIGUSR1), after the caller renamed them. Waits until
    /// every file in `reopened` exists again.
    pub fn reopen_logs(&self, reopened: &[PathBuf]) {
        self.signal("reopen");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !reopened.iter().all(|p| p.exists()) {
            assert!(Instant::now() < deadline, "nginx did not reopen {reopened:?}");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Graceful stop (SIGQUIT via `-s quit`): the workers finish, every log line is flushed.
    pub fn quit(mut self) {
        self.signal("quit");
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().expect("try_wait nginx") {
                assert!(status.success(), "nginx exited with {status}");
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("nginx did not quit within 15 s");
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // Only on a panic path: never leave our nginx behind.
        if let Some(mut child) = self.child.take() {
            // Fast shutdown (SIGTERM) so the master takes its worker down with it; SIGKILL only if
            // that does not happen in time.
            let _ = Command::new(&self.bin)
                .arg("-p")
                .arg(&self.prefix)
                .arg("-c")
                .arg(&self.conf)
                .arg("-e")
                .arg(self.prefix.join("startup-error.log"))
                .args(["-s", "stop"])
                .output();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
