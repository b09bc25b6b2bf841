//! What tests may see behind the API of a running replica, without reaching into its state.

use domain::TaskId;
use store::Redis;

use crate::state::AppState;

/// A cheap, cloneable view of one replica, from [`Application::probe`](crate::Application::probe):
/// its event subscription and its Redis connection. It keeps the replica's state alive, not its
/// server.
#[derive(Clone)]
pub struct Probe {
    state: AppState,
}

impl Probe {
    pub(crate) fn new(state: AppState) -> Probe {
        Probe { state }
    }

    /// Whether the replica's subscription to task events is up. Until it is, an event stream
    /// sends the task's state and closes.
    pub fn is_subscribed(&self) -> bool {
        self.state.hub.is_connected()
    }

    /// Messages the subscription has received so far (one per event, whatever the watchers).
    pub fn events_received(&self) -> u64 {
        self.state.hub.received()
    }

    /// Clients following `task`'s events on this replica.
    pub fn watchers_of(&self, task: TaskId) -> usize {
        self.state.hub.watchers_of(task)
    }

    /// The replica's Redis connection, with its deployment's key prefix: events published
    /// through it reach the subscription as a worker's would.
    pub fn redis(&self) -> &Redis {
        &self.state.redis
    }
}
