package io.polyvisor.testing.hyperv;

import java.util.ArrayList;
import java.util.List;

/**
 * An error as Windows PowerShell 5.1 writes it to a remote shell's stderr (its default error view),
 * one CLIXML {@code <S S="Error">} per line: the message wrapped at the console width, each
 * wrapped line keeping its trailing space; the position ("At line:N char:M", the statement, a
 * {@code ~} underline); the CategoryInfo and FullyQualifiedErrorId lines, wrapped the same way
 * with a three-space indent; and a line holding one space. As captured from real hosts in
 * pywinrm's, Ansible's and other clients' tests (docs/hyperv-on-real-hosts.md). The categories are
 * the simulator's own: a real cmdlet names its exception type and error id.
 */
final class ErrorView {

  /** The console width of a remote shell's host; real hosts were seen wrapping at 80 and at 120. */
  static final int WIDTH = 80;

  /** A statement's error: its message, and where it was (line 0: not in the script, no position). */
  record ErrorRecord(String message, int line, String statement) {
    static ErrorRecord of(String message) {
      return new ErrorRecord(message, 0, "");
    }
  }

  private ErrorView() {}

  static List<String> lines(ErrorRecord error) {
    List<String> lines = new ArrayList<>();
    for (String paragraph : error.message().split("\\R")) {
      lines.addAll(wrap(paragraph, WIDTH, ""));
    }
    String cmdlet = error.message().contains(" : ") ? error.message().substring(0, error.message().indexOf(" : ")) : "";
    if (error.line() > 0) {
      int column = cmdlet.isEmpty() ? 0 : Math.max(0, error.statement().indexOf(cmdlet));
      lines.add("At line:" + error.line() + " char:" + (column + 1));
      lines.add("+ " + error.statement());
      lines.add("+ " + " ".repeat(column) + "~".repeat(Math.max(1, error.statement().length() - column)));
    }
    lines.addAll(wrap("    + CategoryInfo          : NotSpecified: (:) [" + cmdlet + "], SimulatedHostException", WIDTH, "   "));
    lines.addAll(wrap("    + FullyQualifiedErrorId : " + (cmdlet.isEmpty() ? "RuntimeException" : cmdlet.replace("-", "") + "Failed"),
        WIDTH, "   "));
    lines.add(" ");
    return lines;
  }

  /** Breaks after a space so that no line is longer than the width; a word longer than a line is cut. */
  private static List<String> wrap(String text, int width, String indent) {
    List<String> lines = new ArrayList<>();
    String rest = text;
    boolean first = true;
    while (true) {
      String line = (first ? "" : indent) + rest;
      if (line.length() <= width) {
        lines.add(line);
        return lines;
      }
      int room = width - (first ? 0 : indent.length());
      int cut = rest.lastIndexOf(' ', room - 1);
      cut = cut <= 0 ? room : cut + 1; // the space stays at the end of the line
      lines.add((first ? "" : indent) + rest.substring(0, cut));
      rest = rest.substring(cut);
      first = false;
    }
  }
}
