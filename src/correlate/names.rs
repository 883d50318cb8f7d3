//! The upstream names the events share: a failing upstream is named by every attempt sent to it,
//! so each name is allocated once per join instead of once per attempt.

use std::sync::Arc;

use rustc_hash::FxHashSet;

/// The names handed out so far.
#[derive(Default)]
pub(super) struct Names(FxHashSet<Arc<[u8]>>);

impl Names {
    /// The shared copy of `name`, made on first sight.
    pub(super) fn get(&mut self, name: &[u8]) -> Arc<[u8]> {
        if let Some(shared) = self.0.get(name) {
            return Arc::clone(shared);
        }
        let shared: Arc<[u8]> = Arc::from(name);
        self.0.insert(Arc::clone(&shared));
        shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_names_share_one_allocation() {
        let mut names = Names::default();
        let a = names.get(b"10.0.0.1:80");
        let b = names.get(b"10.0.0.2:80");
        let again = names.get(b"10.0.0.1:80");
        assert_eq!(&*a, b"10.0.0.1:80");
        assert_eq!(&*b, b"10.0.0.2:80");
        assert!(Arc::ptr_eq(&a, &again));
    }
}
