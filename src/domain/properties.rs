//! Properties of the lifecycle over arbitrary message sequences.

use proptest::prelude::*;

use super::detail::tests::sound_detail;
use super::status::tests::any_status;
use super::*;

fn shop() -> ShopId {
    ShopId::parse("7494049642642441621").unwrap()
}

/// Any message, with times drawn from a small range so that stale and reordered ones are common,
/// and commands carrying versions near the real one (so some succeed and some conflict).
fn any_msg() -> impl Strategy<Value = (Msg, i64)> {
    prop_oneof![
        4 => (any_status(), 0_i64..40).prop_map(|(status, t)| (Msg::Status { shop_id: shop(), status, update_time: t }, 0)),
        2 => (any_status(), 0_i64..40, any::<bool>()).prop_map(|(status, t, broken)| {
            let mut detail = sound_detail(status, t);
            if broken {
                detail.payment.as_mut().unwrap().sub_total = Money::from_minor(1, Currency::parse("USD").unwrap());
            }
            (Msg::Detail { shop_id: shop(), detail: Box::new(detail) }, 0)
        }),
        1 => (0_i64..40).prop_map(|t| (Msg::Refresh { shop_id: shop(), update_time: t }, 0)),
        1 => (0_i64..40, any::<bool>()).prop_map(|(t, cancel)| (Msg::AfterSale { shop_id: shop(), update: Box::new(AfterSale {
            kind: if cancel { AfterSaleKind::Cancellation } else { AfterSaleKind::Return },
            id: "9001".into(), status: "CANCELLATION_REQUEST_PENDING".into(), role: Some("BUYER".into()), return_type: None, time: t,
        }) }, 0)),
        1 => (-1_i64..=0).prop_map(|off| (Msg::Hold { reason: "check".into(), expected_version: 0 }, off)),
        1 => (-1_i64..=0).prop_map(|off| (Msg::ReleaseHold { expected_version: 0 }, off)),
    ]
}

/// Points the command at the order's current version (plus an offset that may make it stale).
fn aim(msg: Msg, order: Option<&Order>, offset: i64) -> Msg {
    let v = order.map_or(0, |o| o.version) + offset;
    match msg {
        Msg::Hold { reason, .. } => Msg::Hold {
            reason,
            expected_version: v,
        },
        Msg::ReleaseHold { .. } => Msg::ReleaseHold {
            expected_version: v,
        },
        other => other,
    }
}

fn rank(status: &OrderStatus) -> Option<u8> {
    use OrderStatus::*;
    Some(match status {
        Unpaid => 0,
        OnHold => 1,
        AwaitingShipment => 2,
        PartiallyShipping => 3,
        AwaitingCollection => 4,
        InTransit => 5,
        Delivered => 6,
        Completed => 7,
        Cancelled => 8,
        Unknown(_) => return None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_sequence_leaves_a_terminal_state_or_regresses(msgs in prop::collection::vec(any_msg(), 1..40)) {
        let id = OrderId::parse("576653688135258178").unwrap();
        let mut order: Option<Order> = None;
        for (msg, offset) in msgs {
            let msg = aim(msg, order.as_ref(), offset);
            let before = order.clone();
            let Ok(decision) = decide(&id, order.as_ref(), &msg) else { continue };
            for event in &decision.events {
                match &mut order {
                    Some(o) => o.apply(event),
                    None => order = Order::created(id.clone(), event),
                }
            }
            let (Some(before), Some(after)) = (before, order.as_ref()) else { continue };
            if before.status.is_terminal() {
                prop_assert_eq!(&after.status, &before.status, "status left a terminal state");
            }
            if before.stage.is_terminal() {
                prop_assert_eq!(after.stage, before.stage, "stage left a terminal state");
            }
            if let (Some(b), Some(a)) = (rank(&before.status), rank(&after.status)) {
                prop_assert!(a >= b, "status regressed from {} to {}", before.status, after.status);
            }
            prop_assert!(after.update_time >= before.update_time, "update_time went back");
            prop_assert_eq!(after.version, before.version + decision.events.len() as i64);
            // Never fulfil UNPAID or ON_HOLD orders.
            for effect in &decision.effects {
                if matches!(effect, Effect::StartFulfilment { .. }) {
                    prop_assert!(after.status.may_fulfil());
                }
            }
        }
    }

    #[test]
    fn replaying_the_audit_trail_reproduces_the_snapshot(msgs in prop::collection::vec(any_msg(), 1..40)) {
        let id = OrderId::parse("576653688135258178").unwrap();
        let mut order: Option<Order> = None;
        let mut trail: Vec<Event> = Vec::new();
        for (msg, offset) in msgs {
            let msg = aim(msg, order.as_ref(), offset);
            let Ok(decision) = decide(&id, order.as_ref(), &msg) else { continue };
            for event in decision.events {
                // Through JSON, as the audit table stores it.
                let stored: Event = serde_json::from_value(serde_json::to_value(&event).unwrap()).unwrap();
                prop_assert_eq!(&stored, &event);
                match &mut order {
                    Some(o) => o.apply(&event),
                    None => order = Order::created(id.clone(), &event),
                }
                trail.push(stored);
            }
        }
        prop_assert_eq!(Order::replay(id, &trail), order);
    }
}

#[test]
fn a_new_order_is_created_received_and_asks_for_its_detail() {
    let id = OrderId::parse("1").unwrap();
    let d = decide(
        &id,
        None,
        &Msg::Status {
            shop_id: shop(),
            status: OrderStatus::Unpaid,
            update_time: 10,
        },
    )
    .unwrap();
    assert_eq!(d.events.len(), 1);
    let order = Order::replay(id, &d.events).unwrap();
    assert_eq!(order.stage, Stage::Received);
    assert!(
        d.effects
            .iter()
            .any(|e| matches!(e, Effect::FetchDetail { .. }))
    );
}

#[test]
fn a_sound_detail_for_an_awaiting_shipment_order_starts_fulfilment() {
    let id = OrderId::parse("1").unwrap();
    let d = decide(
        &id,
        None,
        &Msg::Detail {
            shop_id: shop(),
            detail: Box::new(sound_detail(OrderStatus::AwaitingShipment, 10)),
        },
    )
    .unwrap();
    let order = Order::replay(id, &d.events).unwrap();
    assert_eq!(order.stage, Stage::Validated);
    assert!(
        d.effects
            .iter()
            .any(|e| matches!(e, Effect::StartFulfilment { .. }))
    );
}

#[test]
fn money_that_does_not_add_up_puts_the_order_in_exception_with_the_reason() {
    let id = OrderId::parse("1").unwrap();
    let mut detail = sound_detail(OrderStatus::AwaitingShipment, 10);
    detail.payment.as_mut().unwrap().total_amount =
        Money::from_minor(1, Currency::parse("USD").unwrap());
    let d = decide(
        &id,
        None,
        &Msg::Detail {
            shop_id: shop(),
            detail: Box::new(detail),
        },
    )
    .unwrap();
    let order = Order::replay(id, &d.events).unwrap();
    assert_eq!(order.stage, Stage::Exception);
    assert!(order.stage_reason.unwrap().contains("total_amount"));
    assert!(
        order.detail_problems.is_some_and(|p| !p.is_empty()),
        "the detail was applied, with its problems"
    );
    assert!(
        !d.effects
            .iter()
            .any(|e| matches!(e, Effect::StartFulfilment { .. }))
    );
}

#[test]
fn an_older_event_is_recorded_as_stale_and_changes_nothing() {
    let id = OrderId::parse("1").unwrap();
    let first = decide(
        &id,
        None,
        &Msg::Status {
            shop_id: shop(),
            status: OrderStatus::AwaitingShipment,
            update_time: 20,
        },
    )
    .unwrap();
    let order = Order::replay(id.clone(), &first.events).unwrap();
    let late = decide(
        &id,
        Some(&order),
        &Msg::Status {
            shop_id: shop(),
            status: OrderStatus::Unpaid,
            update_time: 10,
        },
    )
    .unwrap();
    assert_eq!(late.events.len(), 1);
    assert_eq!(late.events[0].kind(), "stale_ignored");
    let mut after = order.clone();
    after.apply(&late.events[0]);
    assert_eq!(after.status, order.status);
    assert_eq!(after.version, order.version + 1);
}

#[test]
fn commands_carry_the_expected_version() {
    let id = OrderId::parse("1").unwrap();
    let d = decide(
        &id,
        None,
        &Msg::Status {
            shop_id: shop(),
            status: OrderStatus::AwaitingShipment,
            update_time: 20,
        },
    )
    .unwrap();
    let order = Order::replay(id.clone(), &d.events).unwrap();
    let stale = Msg::Hold {
        reason: "x".into(),
        expected_version: order.version - 1,
    };
    assert_eq!(
        decide(&id, Some(&order), &stale),
        Err(Rejection::Conflict {
            expected: order.version - 1,
            actual: order.version
        })
    );
    let ok = Msg::Hold {
        reason: "fraud check".into(),
        expected_version: order.version,
    };
    let held = decide(&id, Some(&order), &ok).unwrap();
    let mut held_order = order.clone();
    held.events.iter().for_each(|e| held_order.apply(e));
    assert_eq!(held_order.stage, Stage::OnHold);
    assert_eq!(held_order.stage_reason.as_deref(), Some("fraud check"));
    let release = decide(
        &id,
        Some(&held_order),
        &Msg::ReleaseHold {
            expected_version: held_order.version,
        },
    )
    .unwrap();
    held.events.iter().chain(&release.events).count();
    let mut released = held_order.clone();
    release.events.iter().for_each(|e| released.apply(e));
    assert_eq!(released.stage, Stage::Received);
    assert_eq!(decide(&id, None, &ok), Err(Rejection::NotFound(id)));
}

#[test]
fn seller_commands_are_refused_where_they_cannot_act() {
    let id = OrderId::parse("2").unwrap();
    let at = |status| {
        let d = decide(
            &id,
            None,
            &Msg::Status {
                shop_id: shop(),
                status,
                update_time: 20,
            },
        )
        .unwrap();
        Order::replay(id.clone(), &d.events).unwrap()
    };
    let cancel = |order: &Order| Msg::RequestCancel {
        reason: "out of stock".into(),
        expected_version: order.version,
    };
    let paid = at(OrderStatus::AwaitingShipment);
    let asked = decide(&id, Some(&paid), &cancel(&paid)).unwrap();
    assert_eq!(asked.events[0].kind(), "cancel_requested");
    assert!(
        asked.effects.is_empty(),
        "the stage waits for TikTok's answer"
    );
    let moving = at(OrderStatus::InTransit);
    assert!(matches!(
        decide(&id, Some(&moving), &cancel(&moving)),
        Err(Rejection::NotAllowed(_))
    ));
    let vip = super::Tag::parse("vip").unwrap();
    let both = Msg::Tag {
        add: Box::new([vip.clone()]),
        remove: Box::new([vip]),
        expected_version: paid.version,
    };
    assert!(matches!(
        decide(&id, Some(&paid), &both),
        Err(Rejection::NotAllowed(why)) if why.contains("both added and removed")
    ));
}
