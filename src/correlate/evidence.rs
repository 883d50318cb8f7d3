//! The error lines an event claimed, held without an allocation when there are few.
//!
//! Nearly every failed request is explained by one or two error lines (one per failed attempt),
//! and a boxed slice of them costs an allocation when the join makes the event and a free when
//! the event is dropped: both per failure. Two indexes fit in the space the box takes.

/// Marks an empty inline place: no record has this index, as the join indexes only the first
/// `u32::MAX` records (`0..u32::MAX`).
const NONE: u32 = u32::MAX;

/// Indexes into the error records, in log order: up to two held in place, more in a box.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// The first places hold the lines; an unused place holds `u32::MAX`.
    Inline([u32; 2]),
    Boxed(Box<[u32]>),
}

impl Default for Evidence {
    fn default() -> Evidence {
        Evidence::Inline([NONE; 2])
    }
}

impl Evidence {
    /// The lines, in log order.
    pub fn as_slice(&self) -> &[u32] {
        match self {
            // A second line is only ever held after a first.
            Evidence::Inline(lines) => {
                &lines[..usize::from(lines[0] != NONE) + usize::from(lines[1] != NONE)]
            }
            Evidence::Boxed(lines) => lines,
        }
    }
}

impl From<&[u32]> for Evidence {
    /// Lines that are all below `u32::MAX`, as the join's are.
    fn from(lines: &[u32]) -> Evidence {
        match *lines {
            [] => Evidence::default(),
            [one] if one != NONE => Evidence::Inline([one, NONE]),
            [one, two] if one != NONE && two != NONE => Evidence::Inline([one, two]),
            _ => Evidence::Boxed(lines.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_lines_are_held_in_place_and_read_back_in_order() {
        let cases: [&[u32]; 5] = [&[], &[7], &[3, 9], &[1, 2, 3], &[0, u32::MAX]];
        for lines in cases {
            let evidence = Evidence::from(lines);
            assert_eq!(evidence.as_slice(), lines);
            assert_eq!(matches!(evidence, Evidence::Inline(_)), lines.len() <= 2 && !lines.contains(&NONE));
        }
        assert_eq!(Evidence::default().as_slice(), &[] as &[u32]);
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn evidence_takes_no_more_room_than_a_box() {
        assert_eq!(std::mem::size_of::<Evidence>(), std::mem::size_of::<Box<[u32]>>());
    }
}
