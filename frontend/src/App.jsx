import { useEffect, useState } from 'react';
import { BrowserRouter, NavLink, Navigate, Route, Routes, useLocation } from 'react-router';
import { KEY_NEEDED } from './api.js';
import ApiKeyPrompt from './components/ApiKeyPrompt.jsx';
import ClustersPage from './pages/ClustersPage.jsx';
import ComparePage from './pages/ComparePage.jsx';
import PeoplePage from './pages/PeoplePage.jsx';
import SearchPage from './pages/SearchPage.jsx';

const PAGES = [
  ['/', 'Compare'],
  ['/people', 'People'],
  ['/search', 'Search'],
  ['/clusters', 'Clusters'],
];

/** The frame every page shares: the name, the navigation, the page; and a prompt
 * for an API key when a gallery call needed one (Compare asks by itself). */
export function Layout({ children }) {
  const { pathname } = useLocation();
  const [needsKey, setNeedsKey] = useState(false);
  const [attempt, setAttempt] = useState(0); // a new key: the page loads again
  useEffect(() => {
    const ask = () => setNeedsKey(true);
    window.addEventListener(KEY_NEEDED, ask);
    return () => window.removeEventListener(KEY_NEEDED, ask);
  }, []);
  return (
    <div className="app">
      <header className="app-header">
        <h1>
          <span className="logo" aria-hidden="true">
            ◐
          </span>{' '}
          Likeness
        </h1>
        <p className="tagline">Face verification and search. Everything stays on this server.</p>
        <nav className="tabs" aria-label="Pages">
          {PAGES.map(([to, label]) => (
            <NavLink key={to} to={to} end={to === '/'} className={({ isActive }) => `tab${isActive ? ' active' : ''}`}>
              {label}
            </NavLink>
          ))}
        </nav>
      </header>
      {needsKey && pathname !== '/' && (
        <div className="key-banner" role="alert">
          <p>This server needs an API key (with the write scope) for the gallery pages.</p>
          <ApiKeyPrompt
            onSaved={() => {
              setNeedsKey(false);
              setAttempt((n) => n + 1);
            }}
          />
        </div>
      )}
      <main key={attempt}>{children}</main>
    </div>
  );
}

export function AppRoutes() {
  return (
    <Layout>
      <Routes>
        <Route path="/" element={<ComparePage />} />
        <Route path="/people" element={<PeoplePage />} />
        <Route path="/people/:personId" element={<PeoplePage />} />
        <Route path="/search" element={<SearchPage />} />
        <Route path="/clusters" element={<ClustersPage />} />
        <Route path="/clusters/:clusterId" element={<ClustersPage />} />
        <Route path="*" element={<Navigate to="/" replace />} />
      </Routes>
    </Layout>
  );
}

export default function App() {
  return (
    <BrowserRouter>
      <AppRoutes />
    </BrowserRouter>
  );
}
