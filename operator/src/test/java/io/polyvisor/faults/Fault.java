package io.polyvisor.faults;

/** The kinds of fault the campaign injects, each at a random instant of a move. */
enum Fault {
  /** SIGKILL of an operator process (mostly the leader); a new one is started so two run again. */
  OPERATOR_KILL("operator-kill"),
  /** SIGKILL of the move's source or target libvirtd, started again 0.5-3 s later. */
  LIBVIRTD_KILL("libvirtd-kill"),
  /** SIGSTOP of the move's source or target libvirtd for 3-10 s, then SIGCONT: a hung host. */
  LIBVIRTD_STOP("libvirtd-stop"),
  /** The move's source or target libvirtd killed and started again only 8-20 s later: it refuses connections meanwhile. */
  LIBVIRTD_DOWN("libvirtd-down"),
  /** For 5-12 s the proxy answers some requests with 409, 429 or 500 and drops some connections (after forwarding a few). */
  API_ERRORS("api-errors"),
  /** For 5-15 s the proxy refuses every connection and drops the open ones: the API server out of reach. */
  API_OUTAGE("api-outage"),
  /** SIGKILL of the kube-apiserver itself, started again on the same port and etcd 1-6 s later. */
  API_RESTART("api-restart"),
  /** The move's migration deleted mid-move. */
  DELETE_MIGRATION("delete-migration"),
  /** The moving VM deleted mid-move, and created again under the same name once it is gone. */
  DELETE_VM("delete-vm"),
  /** The node being evacuated uncordoned mid-move. */
  UNCORDON("uncordon"),
  /** The class label taken off the move's source or target node for 5-10 s, then put back. */
  RELABEL("relabel"),
  /** A second migration of the moving VM created while the first is under way. */
  SECOND_MIGRATION("second-migration");

  final String word;

  Fault(String word) {
    this.word = word;
  }
}
