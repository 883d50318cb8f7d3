//! Naming a stream's source from where the platform keeps it, so that the logs of two pods or
//! containers pointed at as a directory are never joined across (each nginx counts connections
//! from 1).
//!
//! - `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<N>.log` and its rotations
//!   `<N>.log.YYYYMMDD-HHMMSS[.gz]` → `namespace/pod/container`;
//! - `/var/log/containers/<pod>_<namespace>_<container>-<id>.log` (symlinks to the above) → the same;
//! - `/var/lib/docker/containers/<id>/<id>-json.log[.N][.gz]` → the container's name from the
//!   `config.v2.json` beside it, else the short id.

use std::path::Path;

/// The source the path of a platform's log file names, if it is one.
pub fn source_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    pod_log(path, name).or_else(|| container_link(name)).or_else(|| docker_log(path, name))
}

/// `<N>.log`, `<N>.log.20240101-120000`, `<N>.log.20240101-120000.gz` in
/// `<namespace>_<pod>_<uid>/<container>/`.
fn pod_log(path: &Path, name: &str) -> Option<String> {
    let (number, rotation) = name.split_once(".log")?;
    let rotation = rotation.strip_suffix(".gz").unwrap_or(rotation);
    let rotated = match rotation.strip_prefix('.') {
        None => rotation.is_empty(),
        Some(stamp) => stamp.len() == 15 && stamp.as_bytes()[8] == b'-',
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) || !rotated {
        return None;
    }
    let container_dir = path.parent()?;
    let container = container_dir.file_name()?.to_str()?;
    let pod_dir = container_dir.parent()?.file_name()?.to_str()?;
    let mut parts = pod_dir.split('_');
    let (namespace, pod, _uid) = (parts.next()?, parts.next()?, parts.next()?);
    parts.next().is_none().then(|| format!("{namespace}/{pod}/{container}"))
}

/// `<pod>_<namespace>_<container>-<64 hex id>.log`.
fn container_link(name: &str) -> Option<String> {
    let stem = name.strip_suffix(".log")?;
    let mut parts = stem.split('_');
    let (pod, namespace, rest) = (parts.next()?, parts.next()?, parts.next()?);
    let (container, id) = rest.rsplit_once('-')?;
    let is_id = id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
    (parts.next().is_none() && is_id).then(|| format!("{namespace}/{pod}/{container}"))
}

/// `<id>-json.log`, `<id>-json.log.1`, `<id>-json.log.2.gz` in the directory `<id>/`.
fn docker_log(path: &Path, name: &str) -> Option<String> {
    let (id, _) = name.split_once("-json.log")?;
    let dir = path.parent()?;
    if dir.file_name()?.to_str()? != id || id.len() < 12 {
        return None;
    }
    let named = std::fs::read(dir.join("config.v2.json")).ok().and_then(|config| {
        let value: serde_json::Value = serde_json::from_slice(&config).ok()?;
        Some(value.get("Name")?.as_str()?.trim_start_matches('/').to_owned())
    });
    Some(named.filter(|n| !n.is_empty()).unwrap_or_else(|| id[..12].to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_pods_and_containers_from_their_paths() {
        let pods = Path::new("/var/log/pods/ingress-nginx_controller-6ffd7586d8-xl7lm_0f3c1b2a-9c1d-4e55-8a4b-1f2e3d4c5b6a/controller");
        let want = Some("ingress-nginx/controller-6ffd7586d8-xl7lm/controller".to_owned());
        assert_eq!(source_of(&pods.join("0.log")), want);
        assert_eq!(source_of(&pods.join("3.log.20240101-120000")), want);
        assert_eq!(source_of(&pods.join("3.log.20240101-120000.gz")), want);
        assert_eq!(source_of(&pods.join("0.log.20240101-120000.tmp")), None);
        let id = "a".repeat(64);
        let link =
            format!("/var/log/containers/controller-6ffd7586d8-xl7lm_ingress-nginx_controller-{id}.log");
        assert_eq!(source_of(Path::new(&link)), want);
        let docker = format!("/var/lib/docker/containers/{id}/{id}-json.log.1");
        assert_eq!(source_of(Path::new(&docker)), Some("aaaaaaaaaaaa".to_owned()));
        assert_eq!(source_of(Path::new("/var/log/nginx/access.log")), None);
        assert_eq!(source_of(Path::new("/var/log/nginx/0.log")), None);
    }

    #[test]
    fn a_docker_container_is_named_by_its_config() {
        let root = tempfile::tempdir().unwrap();
        let id = "b".repeat(64);
        let dir = root.path().join(&id);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("config.v2.json"), r#"{"ID":"x","Name":"/shop-web-1"}"#).unwrap();
        assert_eq!(source_of(&dir.join(format!("{id}-json.log"))), Some("shop-web-1".to_owned()));
    }
}
