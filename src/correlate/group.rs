//! Items grouped by a dense group number, each group in the order the items came: a counting
//! sort. The join groups every request by its key and every error line by its connection and by
//! its request, and sorting (group, item) pairs for that cost n log n comparisons where two
//! passes do.

/// Values grouped by number: group `g` is `values[bounds[g]..bounds[g + 1]]`.
pub(super) struct Grouped<T> {
    pub(super) bounds: Vec<usize>,
    pub(super) values: Vec<T>,
}

impl<T: Copy + Default> Grouped<T> {
    /// Groups the values of `items` by their group number, each below `groups`, keeping the
    /// order of `items` within a group.
    pub(super) fn new(items: &[(usize, T)], groups: usize) -> Grouped<T> {
        let mut bounds = vec![0; groups + 1];
        for &(group, _) in items {
            bounds[group + 1] += 1;
        }
        for g in 0..groups {
            bounds[g + 1] += bounds[g];
        }
        let mut next = bounds[..groups].to_vec();
        let mut values = vec![T::default(); items.len()];
        for &(group, value) in items {
            values[next[group]] = value;
            next[group] += 1;
        }
        Grouped { bounds, values }
    }

    /// Each group's values, by group number.
    pub(super) fn runs(&self) -> impl Iterator<Item = &[T]> {
        self.bounds.windows(2).map(|w| &self.values[w[0]..w[1]])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_keep_the_order_items_came_in() {
        let items = [(1, 'a'), (0, 'b'), (2, 'c'), (1, 'd'), (0, 'e'), (1, 'f')];
        let grouped = Grouped::new(&items, 4);
        let runs: Vec<&[char]> = grouped.runs().collect();
        assert_eq!(runs, [&['b', 'e'][..], &['a', 'd', 'f'], &['c'], &[]]);
        assert_eq!(grouped.bounds, [0, 2, 5, 6, 6]);
        assert_eq!(Grouped::<u32>::new(&[], 0).runs().count(), 0);
    }
}
