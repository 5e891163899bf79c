package io.polyvisor.driver.hyperv;

import java.util.Optional;

/** The server and share of a UNC path ({@code \\server\share\folder}). */
record SmbShare(String server, String share) {

  static Optional<SmbShare> of(String path) {
    if (!path.startsWith("\\\\")) {
      return Optional.empty();
    }
    String[] parts = path.substring(2).split("\\\\");
    return parts.length < 2 || parts[0].isEmpty() || parts[1].isEmpty()
        ? Optional.empty()
        : Optional.of(new SmbShare(parts[0], parts[1]));
  }

  /** Dialects as Get-SmbConnection prints them: "2.1", "3.0", "3.02", "3.1.1". */
  static boolean supportsHyperV(String dialect) {
    try {
      return Integer.parseInt(dialect.split("\\.")[0]) >= 3;
    } catch (NumberFormatException e) {
      return false;
    }
  }

  @Override
  public String toString() {
    return "\\\\" + server + "\\" + share;
  }
}
