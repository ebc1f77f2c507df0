//! Group membership: who is in a group, directly and through nested groups.
//!
//! Members are users, service principals and groups. Nesting is resolved
//! transitively, and cycles (A in B, B in A) are tolerated: each object is
//! visited once.

use std::collections::{HashSet, VecDeque};

use crate::ObjectId;

/// What kind of directory object a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberKind {
    User,
    Group,
    ServicePrincipal,
}

impl MemberKind {
    /// The name stored for this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberKind::User => "user",
            MemberKind::Group => "group",
            MemberKind::ServicePrincipal => "servicePrincipal",
        }
    }

    /// The kind named `s` (as [`MemberKind::as_str`] spells it).
    pub fn parse(s: &str) -> Option<Self> {
        [
            MemberKind::User,
            MemberKind::Group,
            MemberKind::ServicePrincipal,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// Graph's `@odata.type` for objects of this kind.
    pub fn odata_type(self) -> &'static str {
        match self {
            MemberKind::User => "#microsoft.graph.user",
            MemberKind::Group => "#microsoft.graph.group",
            MemberKind::ServicePrincipal => "#microsoft.graph.servicePrincipal",
        }
    }
}

/// A directory object taking part in a membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Member {
    pub id: ObjectId,
    pub kind: MemberKind,
}

/// Every object reachable from `start` by repeatedly following `next`, in
/// breadth-first order, each once, `start` itself excluded even when a cycle
/// leads back to it.
///
/// * Transitive members of group G: `start` = G, `next(g)` = the direct
///   members of `g` (only groups are expanded further).
/// * Transitive memberships of X: `start` = X, `next(x)` = the groups `x` is
///   a direct member of.
pub fn transitive<E>(
    start: Member,
    mut next: impl FnMut(ObjectId) -> Result<Vec<Member>, E>,
) -> Result<Vec<Member>, E> {
    let mut seen: HashSet<ObjectId> = HashSet::from([start.id]);
    let mut out = Vec::new();
    let mut queue = VecDeque::from([start]);
    while let Some(current) = queue.pop_front() {
        if current.kind != MemberKind::Group && current != start {
            continue;
        }
        for found in next(current.id)? {
            if seen.insert(found.id) {
                out.push(found);
                queue.push_back(found);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn nested_groups_resolve_and_cycles_end() {
        let ids: Vec<ObjectId> = (0..6).map(|_| ObjectId::new()).collect();
        let g = |i: usize| Member {
            id: ids[i],
            kind: MemberKind::Group,
        };
        let u = |i: usize| Member {
            id: ids[i],
            kind: MemberKind::User,
        };
        // g0 ⊃ {u3, g1}; g1 ⊃ {g2, u4}; g2 ⊃ {g0 (cycle), u3 (again), u5}
        let members: HashMap<ObjectId, Vec<Member>> = HashMap::from([
            (ids[0], vec![u(3), g(1)]),
            (ids[1], vec![g(2), u(4)]),
            (ids[2], vec![g(0), u(3), u(5)]),
        ]);
        let down = |id| Ok::<_, ()>(members.get(&id).cloned().unwrap_or_default());
        let all = transitive(g(0), down).unwrap();
        assert_eq!(all, vec![u(3), g(1), g(2), u(4), u(5)]);

        // Upwards: u5 is in g2, which is in g1, which is in g0, which is in g2.
        let up = |id: ObjectId| {
            Ok::<_, ()>(
                members
                    .iter()
                    .filter(|(_, ms)| ms.iter().any(|m| m.id == id))
                    .map(|(gid, _)| Member {
                        id: *gid,
                        kind: MemberKind::Group,
                    })
                    .collect(),
            )
        };
        let mut of = transitive(u(5), up).unwrap();
        of.sort_by_key(|m| ids.iter().position(|i| *i == m.id));
        assert_eq!(of, vec![g(0), g(1), g(2)]);

        // A group in a cycle is not its own transitive member.
        let of_g2 = transitive(g(2), up).unwrap();
        assert!(!of_g2.contains(&g(2)));
        assert_eq!(of_g2.len(), 2);
    }

    #[test]
    fn errors_stop_the_walk() {
        let start = Member {
            id: ObjectId::new(),
            kind: MemberKind::Group,
        };
        assert_eq!(
            transitive(start, |_| Err::<Vec<Member>, _>("boom")),
            Err("boom")
        );
    }

    #[test]
    fn kinds_round_trip() {
        for kind in [
            MemberKind::User,
            MemberKind::Group,
            MemberKind::ServicePrincipal,
        ] {
            assert_eq!(MemberKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(MemberKind::parse("device"), None);
    }
}
