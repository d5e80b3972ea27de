//! Key bindings as data: ONE table ([`BINDINGS`]) of key, action and help
//! text drives [`super::app::App::on_key`], the hints line and the help
//! overlay, so the three can never disagree (trippy's key map is the model).
//! Text fields (the filter, the composer) take printable keys themselves
//! before this table is consulted.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Where the keyboard focus is: each mode has its own bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The dashboard: panes and lists.
    Main,
    /// The message inspector is open.
    Inspector,
    /// Typing a filter (`/`).
    Filter,
    /// The composer (`m`) is open.
    Composer,
    /// The help overlay is open.
    Help,
}

/// Everything a key can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Leave (a second time: at once).
    Quit,
    /// Send one probe.
    SendOne,
    /// Send a burst.
    SendBurst,
    /// Double the burst size.
    BurstUp,
    /// Halve the burst size.
    BurstDown,
    /// New run: clear figures and lists.
    Reset,
    /// Open / close the help overlay.
    ToggleHelp,
    /// Focus the next pane.
    FocusNext,
    /// Focus the previous pane.
    FocusPrev,
    /// Select the newer message / scroll up.
    Up,
    /// Select the older message / scroll down.
    Down,
    /// A page up.
    PageUp,
    /// A page down.
    PageDown,
    /// The newest message / the top.
    Top,
    /// The oldest kept message / the bottom.
    Bottom,
    /// Follow new arrivals again.
    Follow,
    /// Open the inspector.
    Inspect,
    /// Start typing a filter.
    StartFilter,
    /// Pause / resume the lists.
    TogglePause,
    /// Empty the lists.
    ClearLists,
    /// Open the composer.
    Compose,
    /// Save the session's recording.
    Record,
    /// Closes the overlay of the current mode (inspector, help, composer,
    /// filter editing) or, in the main view, returns to following.
    Back,
    /// Composer: send the message once.
    ComposeSend,
    /// Composer: send the message as a burst.
    ComposeBurst,
    /// Composer: next field.
    NextField,
    /// Composer: previous field.
    PrevField,
    /// Filter: keep the typed filter and leave editing.
    Apply,
}

/// A key as the table names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A printable key without Ctrl.
    Char(char),
    /// A letter with Ctrl.
    Ctrl(char),
    /// Any other key (Tab, Enter, arrows, …).
    Code(KeyCode),
}

/// One binding: the keys, the modes it applies in, its action, how the
/// hints line and help overlay show it.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// The keys that trigger it.
    pub keys: &'static [Key],
    /// The modes it applies in.
    pub modes: &'static [Mode],
    /// What it does.
    pub action: Action,
    /// The keys as shown (`j/↓`).
    pub label: &'static str,
    /// What it does, for the help overlay.
    pub help: &'static str,
    /// Short text for the hints line, when it is shown there.
    pub hint: Option<&'static str>,
}

use Action as A;
use Key::{Char as C, Code as K, Ctrl};
use Mode::*;

const MAIN: &[Mode] = &[Main];
const ANY_LIST: &[Mode] = &[Main, Inspector, Help];
const ALL: &[Mode] = &[Main, Inspector, Help, Filter, Composer];

/// Every key binding, in help-overlay order. The first binding of a mode
/// that matches a key wins.
pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[C('s')],
        modes: MAIN,
        action: A::SendOne,
        label: "s",
        help: "send one probe to the source",
        hint: Some("send"),
    },
    Binding {
        keys: &[C('b')],
        modes: MAIN,
        action: A::SendBurst,
        label: "b",
        help: "send a burst of probes",
        hint: Some("burst"),
    },
    Binding {
        keys: &[C('+'), C('=')],
        modes: MAIN,
        action: A::BurstUp,
        label: "+",
        help: "double the burst size",
        hint: None,
    },
    Binding {
        keys: &[C('-'), C('_')],
        modes: MAIN,
        action: A::BurstDown,
        label: "-",
        help: "halve the burst size",
        hint: None,
    },
    Binding {
        keys: &[C('m')],
        modes: MAIN,
        action: A::Compose,
        label: "m",
        help: "compose a message (body, properties), send once or as a burst",
        hint: Some("compose"),
    },
    Binding {
        keys: &[K(KeyCode::Tab)],
        modes: MAIN,
        action: A::FocusNext,
        label: "Tab",
        help: "focus the next pane",
        hint: Some("pane"),
    },
    Binding {
        keys: &[K(KeyCode::BackTab)],
        modes: MAIN,
        action: A::FocusPrev,
        label: "S-Tab",
        help: "focus the previous pane",
        hint: None,
    },
    Binding {
        keys: &[C('k'), K(KeyCode::Up)],
        modes: MAIN,
        action: A::Up,
        label: "k/↑",
        help: "select the newer message",
        hint: None,
    },
    Binding {
        keys: &[C('j'), K(KeyCode::Down)],
        modes: MAIN,
        action: A::Down,
        label: "j/↓",
        help: "select the older message",
        hint: Some("select"),
    },
    Binding {
        keys: &[K(KeyCode::PageUp)],
        modes: ANY_LIST,
        action: A::PageUp,
        label: "PgUp",
        help: "a page up",
        hint: None,
    },
    Binding {
        keys: &[K(KeyCode::PageDown)],
        modes: ANY_LIST,
        action: A::PageDown,
        label: "PgDn",
        help: "a page down",
        hint: None,
    },
    Binding {
        keys: &[C('g'), K(KeyCode::Home)],
        modes: ANY_LIST,
        action: A::Top,
        label: "g",
        help: "newest message (inspector: top)",
        hint: None,
    },
    Binding {
        keys: &[C('G')],
        modes: ANY_LIST,
        action: A::Bottom,
        label: "G",
        help: "oldest message kept (inspector: bottom)",
        hint: None,
    },
    Binding {
        keys: &[K(KeyCode::End)],
        modes: MAIN,
        action: A::Follow,
        label: "End",
        help: "follow new arrivals again (Esc too)",
        hint: None,
    },
    Binding {
        keys: &[K(KeyCode::Enter)],
        modes: MAIN,
        action: A::Inspect,
        label: "Enter",
        help: "inspect the selected message: body, protocol fields, trace",
        hint: Some("inspect"),
    },
    Binding {
        keys: &[C('/')],
        modes: MAIN,
        action: A::StartFilter,
        label: "/",
        help: "filter the lists (body, key, header values); Esc clears",
        hint: Some("filter"),
    },
    Binding {
        keys: &[C('p'), C(' ')],
        modes: MAIN,
        action: A::TogglePause,
        label: "p/Space",
        help: "pause / resume the lists (counting goes on)",
        hint: Some("pause"),
    },
    Binding {
        keys: &[C('c')],
        modes: MAIN,
        action: A::ClearLists,
        label: "c",
        help: "clear the lists (the run and its figures stay)",
        hint: None,
    },
    Binding {
        keys: &[C('r')],
        modes: MAIN,
        action: A::Reset,
        label: "r",
        help: "new run: clear figures and lists, new run id",
        hint: Some("reset"),
    },
    Binding {
        keys: &[C('w')],
        modes: MAIN,
        action: A::Record,
        label: "w",
        help: "save the session's events (JSON Lines) and keep recording",
        hint: Some("save"),
    },
    Binding {
        keys: &[K(KeyCode::Esc)],
        modes: &[Inspector, Help, Composer],
        action: A::Back,
        label: "Esc",
        help: "close",
        hint: Some("close"),
    },
    Binding {
        keys: &[C('k'), K(KeyCode::Up)],
        modes: &[Inspector, Help],
        action: A::Up,
        label: "k/↑",
        help: "scroll up",
        hint: None,
    },
    Binding {
        keys: &[C('j'), K(KeyCode::Down)],
        modes: &[Inspector, Help],
        action: A::Down,
        label: "j/↓",
        help: "scroll down",
        hint: Some("scroll"),
    },
    Binding {
        keys: &[K(KeyCode::Enter)],
        modes: &[Filter],
        action: A::Apply,
        label: "Enter",
        help: "keep the filter",
        hint: Some("keep"),
    },
    Binding {
        keys: &[K(KeyCode::Esc)],
        modes: &[Filter],
        action: A::Back,
        label: "Esc",
        help: "clear the filter",
        hint: Some("clear"),
    },
    Binding {
        keys: &[K(KeyCode::Tab)],
        modes: &[Composer],
        action: A::NextField,
        label: "Tab",
        help: "next field",
        hint: Some("field"),
    },
    Binding {
        keys: &[K(KeyCode::BackTab)],
        modes: &[Composer],
        action: A::PrevField,
        label: "S-Tab",
        help: "previous field",
        hint: None,
    },
    Binding {
        keys: &[K(KeyCode::Enter)],
        modes: &[Composer],
        action: A::ComposeSend,
        label: "Enter",
        help: "send the message once",
        hint: Some("send"),
    },
    Binding {
        keys: &[Ctrl('b')],
        modes: &[Composer],
        action: A::ComposeBurst,
        label: "C-b",
        help: "send it as a burst",
        hint: Some("burst"),
    },
    Binding {
        keys: &[C('?')],
        modes: &[Main, Inspector, Help],
        action: A::ToggleHelp,
        label: "?",
        help: "this help",
        hint: Some("help"),
    },
    Binding {
        keys: &[K(KeyCode::Esc)],
        modes: ALL,
        action: A::Back,
        label: "Esc",
        help: "close / clear the filter / follow again",
        hint: None,
    },
    Binding {
        keys: &[C('q')],
        modes: &[Main, Inspector, Help],
        action: A::Quit,
        label: "q",
        help: "quit (a second q stops at once)",
        hint: Some("quit"),
    },
    Binding {
        keys: &[Ctrl('c')],
        modes: ALL,
        action: A::Quit,
        label: "C-c",
        help: "quit",
        hint: None,
    },
];

fn matches(k: Key, ev: &KeyEvent) -> bool {
    let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
    match (k, ev.code) {
        (Key::Ctrl(c), KeyCode::Char(x)) => ctrl && x.eq_ignore_ascii_case(&c),
        (Key::Char(c), KeyCode::Char(x)) => !ctrl && x == c,
        (Key::Code(c), code) => c == code,
        _ => false,
    }
}

/// The action bound to `ev` in `mode`, if any.
pub fn action(mode: Mode, ev: &KeyEvent) -> Option<Action> {
    BINDINGS
        .iter()
        .find(|b| b.modes.contains(&mode) && b.keys.iter().any(|k| matches(*k, ev)))
        .map(|b| b.action)
}

/// The hints line's entries for `mode`: `(label, hint)` in table order.
pub fn hints(mode: Mode) -> impl Iterator<Item = (&'static str, &'static str)> {
    BINDINGS
        .iter()
        .filter(move |b| b.modes.contains(&mode))
        .filter_map(|b| b.hint.map(|h| (b.label, h)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn one_table_answers_every_mode() {
        assert_eq!(action(Main, &key(KeyCode::Char('j'))), Some(A::Down));
        assert_eq!(action(Main, &key(KeyCode::Char(' '))), Some(A::TogglePause));
        assert_eq!(action(Filter, &key(KeyCode::Char('j'))), None);
        assert_eq!(action(Filter, &key(KeyCode::Enter)), Some(A::Apply));
        assert_eq!(action(Composer, &key(KeyCode::Enter)), Some(A::ComposeSend));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        for m in [Main, Inspector, Filter, Composer, Help] {
            assert_eq!(action(m, &ctrl_c), Some(A::Quit), "{m:?}");
        }
        assert!(hints(Main).any(|(l, _)| l == "Enter"));
    }
}
