package io.polyvisor.driver.hyperv.winrm;

import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * Reads PowerShell's CLIXML error stream: a remote {@code powershell} writes its errors to stderr
 * as {@code #< CLIXML} followed by serialized records. Only the {@code Error} strings are errors;
 * progress records arrive there too, even from a script that succeeded.
 */
public final class Clixml {

  private static final String HEADER = "#< CLIXML";
  private static final String NAMESPACE = "http://schemas.microsoft.com/powershell/2004/04";
  private static final Pattern ESCAPE = Pattern.compile("_x([0-9A-Fa-f]{4})_");

  private Clixml() {}

  /** The error text in a stderr stream, lines joined; plain (non-CLIXML) text is returned trimmed. */
  public static String errors(String stderr) {
    String text = stderr.strip();
    if (!text.startsWith(HEADER)) {
      return text;
    }
    Document doc = WsMan.parse(text.substring(HEADER.length()).strip().getBytes(StandardCharsets.UTF_8));
    NodeList strings = doc.getElementsByTagNameNS(NAMESPACE, "S");
    StringBuilder errors = new StringBuilder();
    for (int i = 0; i < strings.getLength(); i++) {
      Element s = (Element) strings.item(i);
      if ("Error".equals(s.getAttribute("S"))) {
        errors.append(unescape(s.getTextContent()));
      }
    }
    return errors.toString().strip();
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
