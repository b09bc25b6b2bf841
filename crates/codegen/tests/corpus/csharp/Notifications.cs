using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;

namespace Shop.Notifications
{
    public interface INotifier
    {
        Task SendAsync(string recipient, string message, CancellationToken token);

        /// Sends the same message to every recipient.
        async Task BroadcastAsync(IEnumerable<string> recipients, string message)
        {
            foreach (var recipient in recipients)
            {
                await SendAsync(recipient, message, CancellationToken.None);
            }
        }

        static string Normalize(string message) => message.Trim();
    }

    public sealed class EmailNotifier : INotifier
    {
        private readonly HttpClient _http;

        public EmailNotifier(HttpClient http) => _http = http;

        [Obsolete("use SendAsync")]
        public void Send(string recipient, string message)
        {
            SendAsync(recipient, message, CancellationToken.None).GetAwaiter().GetResult();
        }

        public async Task SendAsync(string recipient, string message, CancellationToken token)
        {
            using var content = new StringContent(INotifier.Normalize(message));
            var response = await _http.PostAsync($"/mail/{recipient}", content, token);
            response.EnsureSuccessStatusCode();
        }

        protected virtual async Task<bool> PingAsync()
        {
            var response = await _http.GetAsync("/ping");
            return response.IsSuccessStatusCode;
        }

        internal class Template
        {
            public string Render(string name) => $"Hello {name}";
        }
    }

    namespace Testing
    {
        public class RecordingNotifier : INotifier
        {
            public List<string> Sent { get; } = new();

            public Task SendAsync(string recipient, string message, CancellationToken token)
            {
                Sent.Add($"{recipient}: {message}");
                return Task.CompletedTask;
            }
        }
    }
}
