package io.polyvisor.driver.hyperv.winrm;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * Reads PowerShell's CLIXML error stream: a remote {@code powershell} writes its errors to stderr
 * as {@code #< CLIXML} followed by serialized records. Only the {@code Error} strings are errors;
 * progress records arrive there too, even from a script that succeeded.
 *
 * <p>The strings are PowerShell's error view, for a console: each message wrapped at the host's
 * console width (80 or 120 columns, a wrapped line keeping its trailing space), then the position
 * ("At line:3 char:1", the statement, a {@code ~} underline), then "    + CategoryInfo" and
 * "    + FullyQualifiedErrorId" lines, then a blank line. What people read, and what the driver
 * matches words in, is the message: it is unwrapped and the rest is left out.
 */
public final class Clixml {

  private static final String HEADER = "#< CLIXML";
  private static final String NAMESPACE = "http://schemas.microsoft.com/powershell/2004/04";
  private static final Pattern OBJS = Pattern.compile("<Objs\\b.*?</Objs>", Pattern.DOTALL);
  private static final Pattern ESCAPE = Pattern.compile("_x([0-9A-Fa-f]{4})_");
  private static final Pattern POSITION = Pattern.compile("^At .+ char:\\d+$");

  private Clixml() {}

  /**
   * The error text in a stderr stream, lines joined. A stream may hold several {@code <Objs>}
   * blocks, and plain text around them (a process the host terminated says so in words); plain
   * text counts as error text, and a block that cannot be read is kept as it is.
   */
  public static String errors(String stderr) {
    String text = stderr.strip();
    if (!text.startsWith(HEADER)) {
      return text;
    }
    return messages(errorView(text));
  }

  private static String errorView(String text) {
    StringBuilder errors = new StringBuilder();
    String rest = text.substring(HEADER.length());
    Matcher block = OBJS.matcher(rest);
    int plainFrom = 0;
    while (block.find()) {
      errors.append(rest, plainFrom, block.start());
      errors.append(errorStrings(block.group()));
      plainFrom = block.end();
    }
    errors.append(rest.substring(plainFrom));
    return errors.toString().strip();
  }

  /** The messages of an error view, each unwrapped, without positions and categories. */
  static String messages(String errorView) {
    List<String> messages = new ArrayList<>();
    StringBuilder message = new StringBuilder();
    boolean details = false; // past the current record's message
    String[] lines = errorView.split("\n", -1);
    for (int i = 0; i < lines.length; i++) {
      StringBuilder logical = new StringBuilder(lines[i]);
      while (logical.length() > 0 && logical.charAt(logical.length() - 1) == ' ' && !logical.toString().isBlank()
          && i + 1 < lines.length && !lines[i + 1].isBlank()) {
        logical.append(lines[++i]); // the console wrapped it here
      }
      String line = logical.toString();
      if (line.isBlank()) {
        flush(message, messages);
        details = false;
      } else if (POSITION.matcher(line.strip()).matches() || line.startsWith("    + ")) {
        details = true;
      } else if (!details || !(line.startsWith("+ ") || line.startsWith("   "))) { // the statement, its underline, a wrapped category
        if (details) { // a message with no blank line after the previous record
          flush(message, messages);
          details = false;
        }
        message.append(message.length() == 0 ? "" : "\n").append(line.stripTrailing());
      }
    }
    flush(message, messages);
    return String.join("\n", messages);
  }

  private static void flush(StringBuilder message, List<String> messages) {
    if (message.length() > 0) {
      messages.add(message.toString());
      message.setLength(0);
    }
  }

  private static String errorStrings(String objs) {
    Document doc;
    try {
      doc = WsMan.parse(objs.getBytes(StandardCharsets.UTF_8));
    } catch (IllegalArgumentException e) {
      return objs;
    }
    NodeList strings = doc.getElementsByTagNameNS(NAMESPACE, "S");
    StringBuilder errors = new StringBuilder();
    for (int i = 0; i < strings.getLength(); i++) {
      Element s = (Element) strings.item(i);
      if ("Error".equals(s.getAttribute("S"))) {
        errors.append(unescape(s.getTextContent()));
      }
    }
    return errors.toString();
  }

  /** CLIXML writes characters XML cannot carry (line breaks among them) as {@code _xHHHH_}. */
  static String unescape(String s) {
    Matcher m = ESCAPE.matcher(s);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      m.appendReplacement(out, Matcher.quoteReplacement(String.valueOf((char) Integer.parseInt(m.group(1), 16))));
    }
    m.appendTail(out);
    return out.toString().replace("\r\n", "\n");
  }
}
