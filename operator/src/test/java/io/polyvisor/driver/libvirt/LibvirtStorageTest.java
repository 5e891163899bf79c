package io.polyvisor.driver.libvirt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.polyvisor.driver.Host;
import io.polyvisor.driver.HypervisorException;
import io.polyvisor.driver.StoragePoolSpec;
import io.polyvisor.driver.VolumeSpec;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.UnresolvedAddressException;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** How storage faults read, against libvirt's in-process {@code test://} driver. */
class LibvirtStorageTest {

  private static final StoragePoolSpec POOL =
      new StoragePoolSpec("polyvisor", "dir", "/polyvisor-test", Optional.empty(), Optional.empty(), "qcow2", false);

  private final LibvirtDriver driver = new LibvirtDriver();
  private final Host host = new Host("kvm-1", "test:///default");

  @AfterEach
  void close() {
    driver.close();
  }

  @Test
  void aDiskSourceThatRefusesConnectionsIsReportedWithTheCauseThePoolAndTheHost() throws IOException {
    int closed;
    try (ServerSocket socket = new ServerSocket(0)) {
      closed = socket.getLocalPort();
    }
    URI source = URI.create("http://127.0.0.1:" + closed + "/x.img");

    assertThatThrownBy(() -> driver.createVolume(host, new VolumeSpec(POOL, "refused", 1L << 20, Optional.of(source))))
        .isInstanceOfSatisfying(HypervisorException.class, e -> assertThat(e.code()).isEqualTo("SOURCE_UNREADABLE"))
        .hasMessage("cannot read disk source " + source + " for pool polyvisor on kvm-1: connection refused (ConnectException)");
  }

  @Test
  void aFailureIsDescribedByItsCausesNeverAsNull() {
    assertThat(LibvirtStorage.why(new ConnectException())).isEqualTo("connection refused (ConnectException)");
    assertThat(LibvirtStorage.why(new NullPointerException())).isEqualTo("NullPointerException");
    assertThat(LibvirtStorage.why(new IOException("virStreamSend failed: broken pipe")))
        .isEqualTo("virStreamSend failed: broken pipe (IOException)");
    assertThat(LibvirtStorage.why(new IOException("upload stopped", new EOFException())))
        .isEqualTo("upload stopped (IOException): the stream ended early (EOFException)");
  }

  @Test
  void theJdksWordlessWrappersGiveWayToTheCauseUnderThem() {
    // What java.net.http.HttpClient throws for a host name that does not resolve.
    ConnectException unresolved = new ConnectException();
    unresolved.initCause(new ConnectException());
    unresolved.getCause().initCause(new UnresolvedAddressException());
    // ... and for a port nobody listens on.
    ConnectException refused = new ConnectException();
    refused.initCause(new ConnectException());
    refused.getCause().initCause(new ClosedChannelException());

    assertThat(LibvirtStorage.why(unresolved)).isEqualTo("host name not resolved (UnresolvedAddressException)");
    assertThat(LibvirtStorage.why(refused)).isEqualTo("connection refused (ConnectException)");
  }

  @Test
  void aWrapperThatOnlyRepeatsItsCauseIsLeftOut() {
    IOException cause = new IOException("disk full");

    assertThat(LibvirtStorage.why(new UncheckedIOException(cause))).isEqualTo("disk full (IOException)");
  }
}
